/* userId -> partition of game.events: see kafka.h. */
#include <string.h>

#include "kafka/kafka.h"

int32_t bm_kafka_owner_partition(const char *partitioner, const char *key, int32_t nparts)
{
    if (nparts <= 0 || !key || strcmp(partitioner, "none") == 0)
        return -1;
    size_t n = strlen(key);
    /* librdkafka's own partitioners (they read neither topic nor opaques): the
     * same function a producer with the same `partitioner` property uses. */
    if (strcmp(partitioner, "consistent") == 0)
        return rd_kafka_msg_partitioner_consistent(NULL, key, n, nparts, NULL, NULL);
    if (strcmp(partitioner, "fnv1a") == 0)
        return rd_kafka_msg_partitioner_fnv1a(NULL, key, n, nparts, NULL, NULL);
    return rd_kafka_msg_partitioner_murmur2(NULL, key, n, nparts, NULL, NULL);
}

const char *bm_kafka_partitioner_property(const char *partitioner)
{
    if (strcmp(partitioner, "consistent") == 0)
        return "consistent_random";
    if (strcmp(partitioner, "fnv1a") == 0)
        return "fnv1a_random";
    return "murmur2_random";
}
