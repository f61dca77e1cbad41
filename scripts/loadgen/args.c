/* Command-line parsing for bm-loadgen (the stream itself is described in main.c). */
#include "args.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char bm_lg_usage[] =
    "usage: bm-loadgen (--bootstrap HOST:PORT,... | --bootstrap-file FILE) [options]\n"
    "\n"
    "Produces deterministic game events (key = userId, value = JSON) to Kafka.\n"
    "\n"
    "  --bootstrap LIST      brokers\n"
    "  --bootstrap-file F    read the broker list from F (waits up to 10 s for it)\n"
    "  --topic T             topic (game.events)\n"
    "  --events N            valid distinct events (100000)\n"
    "  --users U             distinct users u0..u<U-1> (10000)\n"
    "  --zipf S              user activity skew, P(user k) ~ 1/(k+1)^S (1.1)\n"
    "  --seed N              everything derives from it (42)\n"
    "  --games LIST          comma list of game ids; one per user by hash (demo-game)\n"
    "  --mix T=W,...         type weights; unlisted types get 0\n"
    "                        (MATCH_END=40,ENEMY_KILL=35,ITEM_COLLECTED=20,LEVEL_UP=5)\n"
    "  --start MS|RFC3339    first event time (default now - span; give it for\n"
    "                        byte-identical runs)\n"
    "  --span-ms MS          events spread evenly over [start, start+span] (3600000)\n"
    "  --rate N              messages per second, 0 = as fast as possible (0)\n"
    "  --dup-fraction F      re-send F*events valid events later, same eventId (0)\n"
    "  --bad-fraction F      add F*events malformed messages (0): truncated JSON,\n"
    "                        missing userId, wrong field type, bad timestamp,\n"
    "                        over 64 KiB, binary garbage\n"
    "  --no-event-id         omit eventId (cannot be combined with duplicates)\n"
    "  --expect FILE         write the expected totals (below)\n"
    "  --user-prefix P       user id prefix (u)\n"
    "  --compression C       none|gzip|snappy|lz4|zstd (lz4)\n"
    "  -X KEY=VALUE          extra librdkafka producer setting (repeatable)\n"
    "  --wire-stats          add wire_bytes (sent to brokers) to the summary\n"
    "  --dry-run             generate and write --expect without Kafka\n"
    "  --quiet               no progress lines on stderr\n"
    "\n"
    "Event data by type (level = the player's level, 1..60, +1 per LEVEL_UP):\n"
    "  MATCH_END      score 0..5000, kills 0..30, deaths 0..20, win bool, level,\n"
    "                 mode \"ranked\"|\"casual\"\n"
    "  ENEMY_KILL     enemy orc|troll|dragon|slime, weapon sword|bow|staff, level\n"
    "  LEVEL_UP       level\n"
    "  ITEM_COLLECTED item gem|coin|potion, rarity common|rare|epic, count 1..10\n"
    "\n"
    "Expect file (TSV; written after every message was delivered):\n"
    "  # bm-loadgen expect v1 ...          one header line\n"
    "  user<TAB>gameId<TAB>eventType<TAB>count[<TAB>field=sum,max,min,last]...\n"
    "      one line per (user, type) with valid events, sorted bytewise by user\n"
    "      then type; duplicates counted once; numeric data fields in alphabetical\n"
    "      order (MATCH_END: deaths kills level score; ENEMY_KILL, LEVEL_UP: level;\n"
    "      ITEM_COLLECTED: count); last = value of the user's last such event\n"
    "  #total_valid<TAB>N  #total_bad<TAB>B  #total_duplicates<TAB>D   (3 lines)\n"
    "\n"
    "stdout: one JSON line {\"events\",\"produced\",\"duplicates\",\"bad\",\"seconds\",\n"
    "  \"events_per_s\",\"bytes\",\"start_ms\"[,\"wire_bytes\"]}. Exit 0 when every\n"
    "  message was delivered, 1 on failure, 2 on bad usage.\n";

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

/* Milliseconds since the epoch, or "YYYY-MM-DDTHH:MM:SS[.mmm]Z". */
static int parse_start(const char *s, int64_t *out)
{
    uint64_t ms;
    if (parse_u64(s, INT64_MAX, &ms) == 0) {
        *out = (int64_t)ms;
        return 0;
    }
    struct tm tm = {0};
    int frac = 0, n = 0, n2 = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6)
        return -1;
    if (s[n] == '.' && sscanf(s + n, ".%3d%n", &frac, &n2) == 1 && n2 == 4)
        n += n2;
    if (strcmp(s + n, "Z") != 0 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
        tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = (int64_t)timegm(&tm) * 1000 + frac;
    return 0;
}

static int parse_mix(const char *s, double *mix)
{
    char buf[512];
    if (strlen(s) >= sizeof(buf))
        return -1;
    strcpy(buf, s);
    for (int t = 0; t < BM_LG_NTYPES; t++)
        mix[t] = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            return -1;
        *eq = 0;
        int t = 0;
        while (t < BM_LG_NTYPES && strcmp(bm_lg_type_names[t], tok) != 0)
            t++;
        if (t == BM_LG_NTYPES || parse_double(eq + 1, 0, 1e9, &mix[t]) < 0)
            return -1;
    }
    return 0;
}

enum {
    O_BOOTSTRAP = 256,
    O_BOOTSTRAP_FILE,
    O_TOPIC,
    O_EVENTS,
    O_USERS,
    O_ZIPF,
    O_SEED,
    O_GAMES,
    O_MIX,
    O_START,
    O_SPAN,
    O_RATE,
    O_DUP,
    O_BAD,
    O_NO_ID,
    O_EXPECT,
    O_PREFIX,
    O_COMPRESSION,
    O_WIRE,
    O_DRY,
    O_QUIET,
    O_HELP
};

static const struct option long_opts[] = {
    {"bootstrap", required_argument, NULL, O_BOOTSTRAP},
    {"bootstrap-file", required_argument, NULL, O_BOOTSTRAP_FILE},
    {"topic", required_argument, NULL, O_TOPIC},
    {"events", required_argument, NULL, O_EVENTS},
    {"users", required_argument, NULL, O_USERS},
    {"zipf", required_argument, NULL, O_ZIPF},
    {"seed", required_argument, NULL, O_SEED},
    {"games", required_argument, NULL, O_GAMES},
    {"mix", required_argument, NULL, O_MIX},
    {"start", required_argument, NULL, O_START},
    {"span-ms", required_argument, NULL, O_SPAN},
    {"rate", required_argument, NULL, O_RATE},
    {"dup-fraction", required_argument, NULL, O_DUP},
    {"bad-fraction", required_argument, NULL, O_BAD},
    {"no-event-id", no_argument, NULL, O_NO_ID},
    {"expect", required_argument, NULL, O_EXPECT},
    {"user-prefix", required_argument, NULL, O_PREFIX},
    {"compression", required_argument, NULL, O_COMPRESSION},
    {"property", required_argument, NULL, 'X'},
    {"wire-stats", no_argument, NULL, O_WIRE},
    {"dry-run", no_argument, NULL, O_DRY},
    {"quiet", no_argument, NULL, O_QUIET},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

int bm_lg_args_parse(bm_lg_options *o, int argc, char **argv, char *err, size_t errlen)
{
    static const double default_mix[BM_LG_NTYPES] = {35, 20, 5, 40};
    uint64_t u = 0; /* parse_u64 leaves it untouched on a refusal */
    int c;
    memset(o, 0, sizeof(*o));
    o->gp.seed = 42;
    o->gp.events = 100000;
    o->gp.users = 10000;
    o->gp.zipf = 1.1;
    o->gp.games = "demo-game";
    o->gp.user_prefix = "u";
    memcpy(o->gp.mix, default_mix, sizeof(default_mix));
    o->gp.span_ms = 3600 * 1000;
    o->gp.with_event_id = 1;
    o->kc.topic = "game.events";
    o->kc.compression = "lz4";
    o->kc.props = o->props;
    while ((c = getopt_long(argc, argv, "X:h", long_opts, NULL)) != -1) {
        const char *a = optarg;
        int bad = 0;
        switch (c) {
        case O_BOOTSTRAP:
            o->kc.bootstrap = a;
            break;
        case O_BOOTSTRAP_FILE:
            o->bootstrap_file = a;
            break;
        case O_TOPIC:
            o->kc.topic = a;
            break;
        case O_EVENTS:
            bad = parse_u64(a, 1ULL << 40, &o->gp.events);
            break;
        case O_USERS:
            bad = parse_u64(a, 1ULL << 31, &u) || u == 0;
            o->gp.users = (uint32_t)u;
            break;
        case O_ZIPF:
            bad = parse_double(a, 0, 10, &o->gp.zipf);
            break;
        case O_SEED:
            bad = parse_u64(a, UINT64_MAX, &o->gp.seed);
            break;
        case O_GAMES:
            o->gp.games = a;
            break;
        case O_MIX:
            bad = parse_mix(a, o->gp.mix);
            break;
        case O_START:
            o->start_text = a;
            bad = parse_start(a, &o->gp.start_ms);
            break;
        case O_SPAN:
            bad = parse_u64(a, 1ULL << 50, &u);
            o->gp.span_ms = (int64_t)u;
            break;
        case O_RATE:
            bad = parse_double(a, 0, 1e9, &o->rate);
            break;
        case O_DUP:
            bad = parse_double(a, 0, 1, &o->dup_fraction);
            break;
        case O_BAD:
            bad = parse_double(a, 0, 1, &o->bad_fraction);
            break;
        case O_NO_ID:
            o->gp.with_event_id = 0;
            break;
        case O_EXPECT:
            o->expect = a;
            break;
        case O_PREFIX:
            o->gp.user_prefix = a;
            break;
        case O_COMPRESSION:
            o->kc.compression = a;
            break;
        case 'X':
            if (o->kc.nprops == BM_LG_MAX_PROPS) {
                snprintf(err, errlen, "too many -X settings");
                return -1;
            }
            o->props[o->kc.nprops++] = a;
            break;
        case O_WIRE:
            o->kc.wire_stats = 1;
            break;
        case O_DRY:
            o->dry_run = 1;
            break;
        case O_QUIET:
            o->quiet = 1;
            break;
        case O_HELP:
        case 'h':
            return 1;
        default:
            snprintf(err, errlen, "unknown option (see --help)");
            return -1;
        }
        if (bad) {
            const struct option *lo = long_opts;
            while (lo->name && lo->val != c)
                lo++;
            snprintf(err, errlen, "bad value for --%s: %s", lo->name ? lo->name : "?", a);
            return -1;
        }
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument: %s", argv[optind]);
        return -1;
    }
    if (!o->dry_run && !o->kc.bootstrap == !o->bootstrap_file) {
        snprintf(err, errlen, "give exactly one of --bootstrap and --bootstrap-file");
        return -1;
    }
    if (!o->gp.with_event_id && o->dup_fraction > 0) {
        snprintf(err, errlen, "--dup-fraction needs event ids (drop --no-event-id)");
        return -1;
    }
    if (!o->start_text) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        o->gp.start_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - o->gp.span_ms;
    }
    return 0;
}

void bm_lg_args_header(const bm_lg_options *o, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "# bm-loadgen expect v1: user gameId eventType count field=sum,max,min,last..."
             " | seed=%llu events=%llu users=%u zipf=%g games=%s"
             " mix=ENEMY_KILL:%g,ITEM_COLLECTED:%g,LEVEL_UP:%g,MATCH_END:%g start_ms=%lld"
             " span_ms=%lld event_id=%d dup_fraction=%g bad_fraction=%g prefix=%s",
             (unsigned long long)o->gp.seed, (unsigned long long)o->gp.events, o->gp.users,
             o->gp.zipf, o->gp.games, o->gp.mix[0], o->gp.mix[1], o->gp.mix[2], o->gp.mix[3],
             (long long)o->gp.start_ms, (long long)o->gp.span_ms, o->gp.with_event_id,
             o->dup_fraction, o->bad_fraction, o->gp.user_prefix);
}
