/*
 * The independent count: the READMEs' rules for the scenario's two quests and
 * its battle pass, applied to the generated structs in per-user stream order
 * (the engine's order too: every message of a player is keyed by the player,
 * so they share a partition). Nothing here reads JSON or calls a module.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e/progression/prog.h"

/* Total XP that completes tiers 1..8 (the campaign file gives the differences). */
static const double k_need[PROG_TIERS] = {100, 300, 550, 800, 1050, 1300, 1450, 1600};

/* XP sources in config order: MATCH_END score x 0.5 (400 a day), ENEMY_KILL 4 (100 a
 * day), LEVEL_UP 50 (no limit); and the pass's gating.requiredLevel. */
static const double k_limit[3] = {400, 100, 0};
#define PASS_MIN_LEVEL 2
#define KEEP_DAYS 7

#define QA_COOLDOWN_MS (2 * PROG_HOUR_MS)
#define QA_SWORD_KILLS 5
#define QA_RANKED_MATCHES 1
#define QB_KILLS_SUM 60
#define QB_MATCHES 3
#define QB_LEVEL_UPS 1

double prog_pass_need(int tier)
{
    return tier >= 1 && tier <= PROG_TIERS ? k_need[tier - 1] : 0;
}

int prog_pass_tier(double xp)
{
    int t = 0;
    while (t < PROG_TIERS && k_need[t] <= xp)
        t++;
    return t;
}

int prog_pass_current(double xp)
{
    int done = prog_pass_tier(xp);
    return done < PROG_TIERS ? done + 1 : PROG_TIERS;
}

/* Free rewards on odd tiers, premium rewards on every tier but 4. */
int prog_pass_reward(int tier, int premium, char *type, size_t tlen, char *config, size_t clen)
{
    if (tier < 1 || tier > PROG_TIERS)
        return 0;
    if (!premium && tier % 2 == 1) {
        snprintf(type, tlen, "in_game");
        snprintf(config, clen, "{\"item\":\"blade_free_%d\"}", tier);
        return 1;
    }
    if (premium && tier != 4) {
        snprintf(type, tlen, "token");
        snprintf(config, clen, "{\"amount\":%d}", tier * 10);
        return 1;
    }
    return 0;
}

/* Quest A: repeatable, 2 h cooldown; 5 ENEMY_KILL with weapon sword, 1 ranked MATCH_END. */
static void quest_a(prog_quest_user *q, const prog_event *e)
{
    int hit0 = e->kind == PK_KILL && e->weapon == PW_SWORD;
    int hit1 = e->kind == PK_MATCH && e->ranked;
    if (!hit0 && !hit1)
        return;
    if (q->completions > 0 && e->t < q->last_done + QA_COOLDOWN_MS)
        return;
    q->n[0] += hit0;
    q->n[1] += hit1;
    q->counted++;
    q->met = (q->n[0] >= QA_SWORD_KILLS) + (q->n[1] >= QA_RANKED_MATCHES);
    if (q->met < 2)
        return;
    if (++q->completions == 1)
        q->first_done = e->t;
    q->last_done = e->t;
    /* The next attempt starts from nothing. */
    q->n[0] = q->n[1] = 0;
    q->met = 0;
}

/* Quest B: one-shot, needs quest A first completed strictly before the event;
 * sum of data.stats.kills >= 60 over MATCH_END carrying it, 3 MATCH_END and a
 * LEVEL_UP. (LEVEL_UP is not routed to quest A: for a batch where it is the
 * player's only event of interest, the engine reads A's state outside the
 * batch's preload.) */
static void quest_b(prog_quest_user *q, const prog_quest_user *a, const prog_event *e)
{
    int hit0 = e->kind == PK_MATCH && e->kills >= 0;
    int hit1 = e->kind == PK_MATCH;
    int hit2 = e->kind == PK_LEVEL_UP;
    if (!hit0 && !hit1 && !hit2)
        return;
    if (q->completions > 0)
        return;
    if (a->completions == 0 || a->first_done >= e->t)
        return;
    if (hit0) {
        q->v[0] = q->n[0] == 0 ? e->kills : q->v[0] + e->kills;
        q->n[0]++;
    }
    q->n[1] += hit1;
    q->n[2] += hit2;
    q->counted++;
    q->met = (q->n[0] >= 1 && q->v[0] >= QB_KILLS_SUM) + (q->n[1] >= QB_MATCHES) +
             (q->n[2] >= QB_LEVEL_UPS);
    if (q->met == 3) {
        q->completions = 1;
        q->first_done = q->last_done = e->t;
    }
}

static int64_t utc_day(int64_t ms)
{
    return ms >= 0 ? ms / PROG_DAY_MS : -((-ms + PROG_DAY_MS - 1) / PROG_DAY_MS);
}

/* The counter of `day`, created at zero. */
static double *day_used(prog_pass_user *p, int64_t day)
{
    for (int i = 0; i < p->ndays; i++)
        if (p->day[i] == day)
            return p->used[i];
    if (p->ndays == 64)
        bm_e2e_fail("oracle: more than 64 days of counters");
    p->day[p->ndays] = day;
    memset(p->used[p->ndays], 0, sizeof p->used[0]);
    return p->used[p->ndays++];
}

static void pass_xp(prog_pass_user *p, const prog_event *e)
{
    double raw[3] = {0, 0, 0};
    if (e->kind == PK_MATCH && e->score >= 0)
        raw[0] = e->score * 0.5;
    if (e->kind == PK_KILL)
        raw[1] = 4;
    if (e->kind == PK_LEVEL_UP)
        raw[2] = 50;
    if (!(raw[0] > 0 || raw[1] > 0 || raw[2] > 0))
        return;
    /* requiredLevel compares the player's level, not the event's. */
    if (p->level < 0 || p->level < PASS_MIN_LEVEL)
        return;
    int64_t day = utc_day(e->t), newest = 0;
    int have = 0;
    for (int i = 0; i < p->ndays; i++)
        if (!have || p->day[i] > newest)
            newest = p->day[i], have = 1;
    double total = 0;
    for (int i = 0; i < 3; i++) {
        double x = raw[i];
        if (!(x > 0))
            continue;
        if (k_limit[i] > 0) {
            /* A day 7 or more days before the newest counted one has no counter left. */
            if (have && day <= newest - KEEP_DAYS)
                continue;
            double *used = day_used(p, day);
            double room = k_limit[i] - used[i];
            x = x < room ? x : room;
            if (!(x > 0))
                continue;
            used[i] += x;
        }
        total += x;
    }
    if (!(total > 0))
        return;
    p->xp += total;
    p->xp_events++;
    p->touched = 1;
}

static void pass_claim(prog_oracle *o, prog_pass_user *p, const prog_event *e)
{
    char type[32], config[128];
    int prem = e->premium != 0;
    if (e->tier < 1 || e->tier > PROG_TIERS)
        o->refused[PR_INVALID_TIER]++;
    else if (prem && !p->purchased)
        o->refused[PR_NOT_PURCHASED]++;
    else if (e->tier > prog_pass_tier(p->xp))
        o->refused[PR_NOT_REACHED]++;
    else if (!prog_pass_reward(e->tier, prem, type, sizeof type, config, sizeof config))
        o->refused[PR_NO_REWARD]++;
    else if (p->claimed[prem][e->tier])
        o->refused[PR_ALREADY]++;
    else {
        p->claimed[prem][e->tier] = 1;
        p->touched = 1;
        o->pass_grants++;
    }
}

void prog_oracle_run(prog_oracle *o, const prog_stream *s)
{
    memset(o, 0, sizeof *o);
    o->users = s->users;
    o->with_pass = s->with_pass;
    o->qa = calloc((size_t)s->users, sizeof *o->qa);
    o->qb = calloc((size_t)s->users, sizeof *o->qb);
    o->bp = calloc((size_t)s->users, sizeof *o->bp);
    if (!o->qa || !o->qb || !o->bp)
        bm_e2e_fail("out of memory");
    uint8_t *bought = calloc((size_t)s->users, 1);
    if (!bought)
        bm_e2e_fail("out of memory");
    for (int u = 0; u < s->users; u++)
        o->bp[u].level = -1;
    for (size_t i = 0; i < s->n; i++) {
        const prog_event *e = &s->ev[i];
        /* The same eventId again: a re-sent message. The engine drops it before any
         * module sees it. (A second purchase has an id of its own: it reaches the pass.) */
        if (e->dup_of >= 0) {
            o->duplicates++;
            continue;
        }
        o->applied++;
        prog_pass_user *p = &o->bp[e->user];
        /* The host keeps the player's level before any campaign sees the event: the
         * level of the latest of the player's events of this game, by event time. */
        if (e->kind != PK_OTHER_GAME && e->kind != PK_PURCHASE && e->kind != PK_CLAIM &&
            e->level >= 0 && (p->level < 0 || e->t >= p->level_t)) {
            p->level = e->level;
            p->level_t = e->t;
        }
        switch (e->kind) {
        case PK_PURCHASE:
            /* Every purchase is acknowledged on battlepass.progress, repeated or not. */
            o->purchase_acks++;
            o->purchase_repeats += bought[e->user];
            bought[e->user] = 1;
            p->purchased = p->touched = 1;
            break;
        case PK_CLAIM:
            pass_claim(o, p, e);
            break;
        case PK_MATCH:
        case PK_KILL:
        case PK_LEVEL_UP: {
            /* Campaign order must not matter (README: prerequisites use the first
             * completion and a strict bound): B runs before A here on purpose. */
            int before = o->qa[e->user].completions;
            int before_b = o->qb[e->user].completions;
            quest_b(&o->qb[e->user], &o->qa[e->user], e);
            quest_a(&o->qa[e->user], e);
            o->quest_grants += o->qa[e->user].completions - before;
            o->quest_grants += o->qb[e->user].completions - before_b;
            if (s->with_pass)
                pass_xp(p, e);
            break;
        }
        default: /* LOGIN and other games: routed to nothing of the scenario */
            break;
        }
    }
    free(bought);
}

void prog_oracle_free(prog_oracle *o)
{
    free(o->qa);
    free(o->qb);
    free(o->bp);
    memset(o, 0, sizeof *o);
}

void prog_oracle_summary(const prog_oracle *o)
{
    long long qa = 0, qa_users = 0, qb = 0, xp_users = 0, bought = 0;
    int tiers[PROG_TIERS + 1] = {0};
    for (int u = 0; u < o->users; u++) {
        qa += o->qa[u].completions;
        qa_users += o->qa[u].completions > 0;
        qb += o->qb[u].completions;
        xp_users += o->bp[u].xp_events > 0;
        bought += o->bp[u].purchased;
        tiers[prog_pass_tier(o->bp[u].xp)]++;
    }
    fprintf(stderr,
            "oracle: %lld applied, %lld duplicates; quest A %lld completions by %lld players, "
            "quest B %lld\n",
            o->applied, o->duplicates, qa, qa_users, qb);
    if (!o->with_pass)
        return;
    fprintf(stderr,
            "oracle: pass: %lld players with XP, %lld purchases, %lld claims granted, refused "
            "invalid_tier %lld not_purchased %lld tier_not_reached %lld no_reward %lld "
            "already_claimed %lld; players per tier 0..%d:",
            xp_users, bought, o->pass_grants, o->refused[PR_INVALID_TIER],
            o->refused[PR_NOT_PURCHASED], o->refused[PR_NOT_REACHED], o->refused[PR_NO_REWARD],
            o->refused[PR_ALREADY], PROG_TIERS);
    for (int t = 0; t <= PROG_TIERS; t++)
        fprintf(stderr, " %d", tiers[t]);
    fprintf(stderr, "\n");
}
