/* Campaign document limits: see bm_camp_parse_doc in campaign.h. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "campaign/campaign.h"

/* Length of the whitelist at root.whitelist or root.gating.whitelist (0 if none). */
static size_t whitelist_len(json_t *root)
{
    size_t n = json_array_size(json_object_get(root, "whitelist"));
    size_t g = json_array_size(json_object_get(json_object_get(root, "gating"), "whitelist"));
    return n > g ? n : g;
}

json_t *bm_camp_parse_doc(const bm_config *cfg, const char *text, size_t len, char *err,
                          size_t errlen)
{
    if (len > (size_t)cfg->campaign_max_config_bytes) {
        snprintf(err, errlen,
                 "campaign document is %zu bytes, more than campaigns.max_config_bytes (%d)", len,
                 cfg->campaign_max_config_bytes);
        return NULL;
    }
    /* The whole buffer is the document: bytes after it, a NUL included, are an
     * error (json_loadb never stops at a NUL the way a C string would). */
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "a campaign document is a JSON object");
        goto fail;
    }
    const char *name = json_string_value(json_object_get(root, "name"));
    if (name &&
        json_string_length(json_object_get(root, "name")) > (size_t)cfg->campaign_max_name_bytes) {
        snprintf(err, errlen, "name: %zu bytes, more than campaigns.max_name_bytes (%d)",
                 json_string_length(json_object_get(root, "name")), cfg->campaign_max_name_bytes);
        goto fail;
    }
    size_t wl = whitelist_len(root);
    if (wl > (size_t)cfg->campaign_max_whitelist) {
        snprintf(err, errlen,
                 "whitelist: %zu userIds, more than campaigns.max_whitelist (%d); gate a large "
                 "audience with a community (gating.communities) instead",
                 wl, cfg->campaign_max_whitelist);
        goto fail;
    }
    return root;
fail:
    json_decref(root);
    return NULL;
}
