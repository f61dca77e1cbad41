/*
 * The WebSocket feed: one consumer per gateway, assigned every partition of
 * the topics below from their current end (no group, no commits: any gateway
 * can serve any channel, and a client that reconnects refetches by HTTP).
 *
 *   leaderboard.updates   -> campaign:<id>  leaderboard_update / tournament_update
 *                            (coalesced per campaign to ws.leaderboard_hz: the
 *                            50 best changed scores, newest value per player,
 *                            and how many more players changed)
 *   ui.quest_updates      -> user:<id>      quest_progress / quest_completed
 *   ui.battlepass_updates -> user:<id>      battlepass_update
 *   ui.tournament_updates -> campaign:<id>  tournament_update (entered, joined,
 *                            standings_changed, started, ended: as the module
 *                            sent them, already coalesced per batch)
 *                         -> user:<id>      tournament_update (refused, prize)
 *   reward.events         -> user:<id>      reward_notification
 *
 * Each update carries the broker timestamp of the message it came from (for a
 * coalesced one, the oldest), so a client can tell how old it is.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "gateway/gw_ws_int.h"

#define MAX_SENT 50       /* entries in one leaderboard_update: the best changed scores */
#define MAX_TRACKED 20000 /* changed players remembered per window; more sets "truncated" */

static const char *const g_topics[] = {BM_TOPIC_LEADERBOARD_UPDATES, "ui.quest_updates",
                                       "ui.battlepass_updates", "reward.events",
                                       "ui.tournament_updates"};
#define NTOPICS (sizeof g_topics / sizeof g_topics[0])

/* Pending changes of one campaign's board. */
typedef struct board {
    struct board *next;
    char id[40], game[40];
    int tournament;
    json_t *entries; /* userId -> {userId, score, reachedAt} */
    int truncated;
    int64_t oldest_ms;
    int64_t last_flush_us;
} board;

typedef struct feed {
    bm_ws *ws;
    board *boards;
} feed;

static ws_msg *msg_new(const char *key, const char *channel, const char *type, char *payload,
                       int64_t ts_ms)
{
    ws_msg *m = calloc(1, sizeof *m);
    if (!m || !payload || !(m->key = strdup(key)) || !(m->channel = strdup(channel))) {
        if (m) {
            free(m->key);
            free(m);
        }
        free(payload);
        return NULL;
    }
    m->type = type;
    m->payload = payload;
    m->ts_ms = ts_ms;
    return m;
}

static int by_score_desc(const void *a, const void *b)
{
    double x = json_number_value(json_object_get(*(json_t *const *)a, "score"));
    double y = json_number_value(json_object_get(*(json_t *const *)b, "score"));
    return x < y ? 1 : x > y ? -1 : 0;
}

static void flush_board(feed *f, board *b, int64_t now)
{
    size_t n = json_object_size(b->entries);
    if (!n)
        return;
    json_t **all = calloc(n, sizeof *all);
    if (!all)
        return;
    size_t k = 0;
    for (void *it = json_object_iter(b->entries); it && k < n;
         it = json_object_iter_next(b->entries, it))
        all[k++] = json_object_iter_value(it);
    /* Widgets show the top of a board: the best changed scores go out, the count of the
     * others in "more" (a client that needs them refetches). */
    qsort(all, k, sizeof *all, by_score_desc);
    json_t *arr = json_array();
    for (size_t i = 0; i < k && i < MAX_SENT; i++)
        json_array_append(arr, all[i]);
    free(all);
    json_t *p = json_pack("{s:s, s:o, s:I, s:b}", "campaignId", b->id, "entries", arr, "more",
                          (json_int_t)(k > MAX_SENT ? k - MAX_SENT : 0), "truncated", b->truncated);
    char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    char chan[64];
    snprintf(chan, sizeof chan, "campaign:%s", b->id);
    ws_msg *m = msg_new(chan, chan, b->tournament ? "tournament_update" : "leaderboard_update",
                        text, b->oldest_ms);
    if (m)
        ws_publish(f->ws, m);
    json_object_clear(b->entries);
    b->truncated = 0;
    b->last_flush_us = now;
}

static board *board_of(feed *f, const char *id)
{
    for (board *b = f->boards; b; b = b->next)
        if (strcmp(b->id, id) == 0)
            return b;
    char game[40], type[16];
    if (ws_campaign(f->ws, id, game, type) != 1)
        return NULL;
    board *b = calloc(1, sizeof *b);
    if (!b || !(b->entries = json_object())) {
        free(b);
        return NULL;
    }
    snprintf(b->id, sizeof b->id, "%s", id);
    snprintf(b->game, sizeof b->game, "%s", game);
    b->tournament = strcmp(type, "tournament") == 0;
    b->next = f->boards;
    f->boards = b;
    return b;
}

static void on_board(feed *f, json_t *j, int64_t ts)
{
    const char *camp = json_string_value(json_object_get(j, "campaignId"));
    const char *user = json_string_value(json_object_get(j, "userId"));
    if (!camp || !user)
        return;
    board *b = board_of(f, camp);
    if (!b)
        return;
    if (!json_object_size(b->entries))
        b->oldest_ms = ts;
    if (json_object_size(b->entries) >= MAX_TRACKED && !json_object_get(b->entries, user)) {
        b->truncated = 1; /* "more" is a lower bound */
        return;
    }
    json_object_set_new(b->entries, user,
                        json_pack("{s:s, s:O, s:O*}", "userId", user, "score",
                                  json_object_get(j, "value"), "reachedAt",
                                  json_object_get(j, "reachedAt")));
}

/* A per-user update: routed to the user channel of the campaign's game. */
static void on_user(feed *f, json_t *j, const char *camp_field, const char *type,
                    const char *payload, size_t len, int64_t ts)
{
    const char *camp = json_string_value(json_object_get(j, camp_field));
    const char *user = json_string_value(json_object_get(j, "userId"));
    char game[40], ctype[16];
    if (!camp || !user || strlen(user) > 255 || ws_campaign(f->ws, camp, game, ctype) != 1)
        return;
    char chan[300], key[400];
    snprintf(chan, sizeof chan, "user:%s", user);
    snprintf(key, sizeof key, "%s|%s", game, chan);
    char *text = strndup(payload, len);
    ws_msg *m = msg_new(key, chan, type, text, ts);
    if (m)
        ws_publish(f->ws, m);
}

/* A tournament's own update: a campaign message goes to its campaign channel (only for a
 * tournament the feed can place in a game), a player's (refused, prize) to the user's. */
static void on_tournament(feed *f, json_t *j, const char *kind, const char *payload, size_t len,
                          int64_t ts)
{
    if (kind && (strcmp(kind, "refused") == 0 || strcmp(kind, "prize") == 0)) {
        on_user(f, j, "campaignId", "tournament_update", payload, len, ts);
        return;
    }
    const char *camp = json_string_value(json_object_get(j, "campaignId"));
    char game[40], ctype[16], chan[64];
    if (!camp || strlen(camp) > 40 || ws_campaign(f->ws, camp, game, ctype) != 1 ||
        strcmp(ctype, "tournament") != 0)
        return;
    snprintf(chan, sizeof chan, "campaign:%s", camp);
    ws_msg *m = msg_new(chan, chan, "tournament_update", strndup(payload, len), ts);
    if (m)
        ws_publish(f->ws, m);
}

static void on_message(feed *f, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    json_error_t e;
    json_t *j = json_loadb(m->payload, m->len, 0, &e);
    if (!json_is_object(j)) {
        json_decref(j);
        return;
    }
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    const char *kind = json_string_value(json_object_get(j, "type"));
    if (strcmp(topic, BM_TOPIC_LEADERBOARD_UPDATES) == 0)
        on_board(f, j, ts);
    else if (strcmp(topic, "ui.quest_updates") == 0)
        on_user(f, j, "questId",
                kind && strcmp(kind, "completed") == 0 ? "quest_completed" : "quest_progress",
                m->payload, m->len, ts);
    else if (strcmp(topic, "ui.battlepass_updates") == 0)
        on_user(f, j, "campaignId", "battlepass_update", m->payload, m->len, ts);
    else if (strcmp(topic, "reward.events") == 0)
        on_user(f, j, "campaignId", "reward_notification", m->payload, m->len, ts);
    else if (strcmp(topic, "ui.tournament_updates") == 0)
        on_tournament(f, j, kind, m->payload, m->len, ts);
    json_decref(j);
}

static void *feed_main(void *arg)
{
    bm_ws *ws = arg;
    feed f = {.ws = ws};
    int64_t period = 1000000 / ws->cfg->ws_leaderboard_hz;
    while (atomic_load(&ws->feed_run)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(ws->consumer, 10);
        if (m) {
            if (!m->err)
                on_message(&f, m);
            rd_kafka_message_destroy(m);
        }
        int64_t now = ws_now_us();
        for (board *b = f.boards; b; b = b->next)
            if (now - b->last_flush_us >= period)
                flush_board(&f, b, now);
    }
    while (f.boards) {
        board *b = f.boards;
        f.boards = b->next;
        json_decref(b->entries);
        free(b);
    }
    return NULL;
}

/* Adds every partition of topic at its current end; absent topics are skipped. */
static int assign_topic(bm_ws *ws, rd_kafka_topic_partition_list_t *l, const char *topic, char *err,
                        size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(ws->consumer, topic, NULL);
    if (!t || rd_kafka_metadata(ws->consumer, 0, t, &md, 10000) || md->topic_cnt != 1) {
        snprintf(err, errlen, "websocket feed: no metadata for %s", topic);
        if (md)
            rd_kafka_metadata_destroy(md);
        if (t)
            rd_kafka_topic_destroy(t);
        return -1;
    }
    int nparts = md->topics[0].err ? 0 : md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    for (int p = 0; p < nparts; p++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(ws->consumer, topic, p, &lo, &hi, 10000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(err, errlen, "websocket feed: no offsets for %s", topic);
            return -1;
        }
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = hi;
    }
    return 0;
}

int ws_feed_start(bm_ws *ws, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", ws->g->bootstrap, err, errlen) ||
        rd_kafka_conf_set(conf, "group.id", "brightmatter-gateway-ws-unused", err, errlen) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) ||
        rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err, errlen) ||
        rd_kafka_conf_set(conf, "log_level", "3", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_log_cb(conf, bm_kafka_log_cb);
    ws->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!ws->consumer) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    /* conf is now owned by the consumer. */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(32);
    for (size_t i = 0; i < NTOPICS; i++)
        if (assign_topic(ws, l, g_topics[i], err, errlen) != 0) {
            rd_kafka_topic_partition_list_destroy(l);
            return -1;
        }
    rd_kafka_assign(ws->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    atomic_store(&ws->feed_run, 1);
    if (pthread_create(&ws->feed, NULL, feed_main, ws) != 0) {
        atomic_store(&ws->feed_run, 0);
        snprintf(err, errlen, "websocket feed: cannot start its thread");
        return -1;
    }
    ws->feed_started = 1;
    return 0;
}

void ws_feed_stop(bm_ws *ws)
{
    if (ws->feed_started) {
        atomic_store(&ws->feed_run, 0);
        pthread_join(ws->feed, NULL);
        ws->feed_started = 0;
    }
    if (ws->consumer) {
        bm_kafka_consumer_end(ws->consumer, 2000);
        ws->consumer = NULL;
    }
}
