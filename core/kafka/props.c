/*
 * librdkafka properties from the [librdkafka] section of the configuration
 * (security.protocol, sasl.*, ssl.*, client.rack, ...), applied to every
 * Kafka client the process creates, after the engine's own settings so an
 * operator can override them.
 */
#include <stdio.h>
#include <string.h>

#include "kafka/kafka.h"

/* Set once at startup, before any client exists; read-only afterwards. */
static char g_props[sizeof(((bm_config *)0)->kafka_props)];

void bm_kafka_props_set(const char *props)
{
    snprintf(g_props, sizeof g_props, "%s", props ? props : "");
}

int bm_kafka_conf_props(rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    const char *p = g_props;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[sizeof g_props];
        snprintf(line, sizeof line, "%.*s", (int)n, p);
        p += n + (nl != NULL);
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char why[256];
        if (rd_kafka_conf_set(conf, line, eq + 1, why, sizeof why) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "librdkafka.%s: %s", line, why);
            return -1;
        }
    }
    return 0;
}
