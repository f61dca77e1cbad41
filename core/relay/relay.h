/*
 * The relay role: publishes the outbox rows that batch transactions wrote to
 * their Kafka topics, on its own thread and its own connection.
 */
#ifndef BM_RELAY_H
#define BM_RELAY_H

#include "role/role.h"

/* engine.roles = relay */
extern const bm_role_ops bm_relay_role;

#endif
