/*
 * The roles this build can run, indexed by BM_ROLE_x (config.h). A role's
 * branch adds one line here; a role named in engine.roles with no entry is
 * refused at startup.
 */
#include "engine/engine.h"
#include "pipeline/pipeline.h"
#include "relay/relay.h"

static const bm_role_ops *const g_roles[BM_NROLES] = {
    [BM_ROLE_PROCESSOR] = &bm_pipeline_role,
    [BM_ROLE_RELAY] = &bm_relay_role,
};

const bm_role_ops *bm_engine_role_ops(int role)
{
    return role >= 0 && role < BM_NROLES ? g_roles[role] : NULL;
}
