/*
 * Cross-origin access for browser games: the game API (/v1/..., not the admin
 * API) answers any origin, since a game key is meant to live in the page; a
 * preflight (OPTIONS) is answered without touching the handlers. Responses
 * expose ETag, Retry-After and X-Request-Id so the web SDK can read them.
 */
#include <string.h>

#include "gateway/gw.h"

static int game_api(const char *url)
{
    return strncmp(url, "/v1/", 4) == 0 && strncmp(url, "/v1/admin", 9) != 0;
}

int gw_cors_preflight(gw_req *r)
{
    if (strcmp(r->method, "OPTIONS") != 0 || !game_api(r->url))
        return 0;
    bm_buf_reset(&r->out);
    r->status = 204;
    return 1;
}

void gw_cors_headers(gw_req *r, struct MHD_Response *resp)
{
    if (!game_api(r->url))
        return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                            "ETag, Retry-After, X-Request-Id");
    if (strcmp(r->method, "OPTIONS") == 0) {
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                "Authorization, Content-Type, Content-Encoding, If-None-Match, "
                                "X-Request-Id");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    }
}
