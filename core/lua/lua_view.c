/*
 * Read-only Lua view of a decoded event. Objects and arrays become small
 * userdata proxies that read from the jansson tree on demand, so an event
 * costs two allocations however big it is and only the fields a formula
 * touches are converted. Scalars are converted when read.
 */
#include <lauxlib.h>

#include "lua_internal.h"

typedef struct view_proxy {
    json_t *j;    /* borrowed from the event being evaluated */
    uint64_t gen; /* generation it was made in */
} view_proxy;

#define VIEW_TNAME "event data" /* registry key of the metatable, and its __name */

/* Returns the proxy at `idx` if it is one of ours and still current; raises otherwise. */
static view_proxy *view_check(lua_State *L, int idx)
{
    view_proxy *p = luaL_checkudata(L, idx, VIEW_TNAME);
    if (p->gen != bm_lua_self(L)->gen)
        luaL_error(L, "event data from an earlier event is no longer available");
    return p;
}

/*
 * Metamethods only ever receive our own userdata as first argument (the
 * metatable is hidden from getmetatable), so the hot path skips the
 * metatable comparison and checks only the generation.
 */
static view_proxy *view_self(lua_State *L)
{
    view_proxy *p = lua_touserdata(L, 1);
    if (p->gen != bm_lua_self(L)->gen)
        luaL_error(L, "event data from an earlier event is no longer available");
    return p;
}

void bm_lua_view_push(lua_State *L, json_t *j)
{
    if (j == NULL) {
        lua_pushnil(L);
        return;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT:
    case JSON_ARRAY: {
        bm_lua_formula *f = bm_lua_self(L);
        view_proxy *p = lua_newuserdatauv(L, sizeof(*p), 0);
        p->j = j;
        p->gen = f->gen;
        lua_rawgeti(L, LUA_REGISTRYINDEX, f->mt_ref);
        lua_setmetatable(L, -2);
        break;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
        break;
    case JSON_REAL:
        lua_pushnumber(L, (lua_Number)json_real_value(j));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    default:
        lua_pushnil(L);
        break;
    }
}

/* Array position for a Lua key (1-based), or 0 when the key is not one. */
static size_t view_array_pos(lua_State *L, int idx)
{
    int isint = 0;
    lua_Integer k = lua_tointegerx(L, idx, &isint);
    return (isint && k >= 1) ? (size_t)k : 0;
}

/* __index: object fields by string key, array items by 1-based integer key. */
static int view_index(lua_State *L)
{
    view_proxy *p = view_self(L);
    json_t *v = NULL;
    if (json_is_object(p->j)) {
        if (lua_type(L, 2) == LUA_TSTRING) {
            size_t len;
            const char *key = lua_tolstring(L, 2, &len);
            v = json_object_getn(p->j, key, len);
        }
    } else {
        size_t pos = view_array_pos(L, 2);
        if (pos > 0)
            v = json_array_get(p->j, pos - 1);
    }
    bm_lua_view_push(L, v);
    return 1;
}

static int view_newindex(lua_State *L)
{
    return luaL_error(L, "event data is read-only");
}

/* __len: the item count of an array; objects have no sequence part, like a Lua table. */
static int view_len(lua_State *L)
{
    view_proxy *p = view_self(L);
    lua_pushinteger(L, json_is_array(p->j) ? (lua_Integer)json_array_size(p->j) : 0);
    return 1;
}

/* __eq: two proxies are equal when they show the same JSON value. */
static int view_eq(lua_State *L)
{
    view_proxy *a = view_check(L, 1);
    view_proxy *b = view_check(L, 2);
    lua_pushboolean(L, a->j == b->j);
    return 1;
}

/* Stateless iterator for pairs(): key -> next key, in the document's order. */
static int view_next(lua_State *L)
{
    view_proxy *p = view_check(L, 1);
    if (json_is_object(p->j)) {
        void *it;
        if (lua_isnil(L, 2)) {
            it = json_object_iter(p->j);
        } else {
            size_t len;
            const char *key = luaL_checklstring(L, 2, &len);
            /* iter_at needs a NUL-terminated key; JSON keys with NUL bytes stop here. */
            it = json_object_iter_at(p->j, key);
            if (it != NULL && json_object_iter_key_len(it) != len)
                it = NULL;
            it = it ? json_object_iter_next(p->j, it) : NULL;
        }
        if (it == NULL)
            return 0;
        lua_pushlstring(L, json_object_iter_key(it), json_object_iter_key_len(it));
        bm_lua_view_push(L, json_object_iter_value(it));
        return 2;
    }
    size_t pos = lua_isnil(L, 2) ? 1 : view_array_pos(L, 2) + 1;
    if (pos < 2 && !lua_isnil(L, 2))
        return 0;
    json_t *v = json_array_get(p->j, pos - 1);
    if (v == NULL)
        return 0;
    lua_pushinteger(L, (lua_Integer)pos);
    bm_lua_view_push(L, v);
    return 2;
}

static int view_pairs(lua_State *L)
{
    view_self(L);
    lua_pushcfunction(L, view_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int view_tostring(lua_State *L)
{
    view_proxy *p = view_self(L);
    lua_pushstring(L, json_is_object(p->j) ? "event object" : "event array");
    return 1;
}

void bm_lua_view_open(lua_State *L)
{
    static const luaL_Reg meta[] = {
        {"__index", view_index},
        {"__newindex", view_newindex},
        {"__len", view_len},
        {"__eq", view_eq},
        {"__pairs", view_pairs},
        {"__tostring", view_tostring},
        {NULL, NULL},
    };
    bm_lua_formula *f = bm_lua_self(L);
    luaL_newmetatable(L, VIEW_TNAME);
    luaL_setfuncs(L, meta, 0);
    /* Hides the metatable: getmetatable() sees false and cannot edit it. */
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    /* Also kept by number: proxies are made on every read, and rawgeti is cheaper. */
    f->mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}
