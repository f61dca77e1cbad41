/*
 * brightmatter: the engine binary.
 *   brightmatter [-c FILE] [run]   run the configured roles (default)
 *   brightmatter [-c FILE] broker  host the embedded broker alone, for multi-process tests
 *   brightmatter [-c FILE] config  print the effective configuration
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "engine/engine.h"
#include "kafka/kafka.h"
#include "service/service.h"
#include "log/log.h"
#include "supervisor/supervisor.h"
#include "util/fs.h"
#include "util/runlock.h"

static volatile sig_atomic_t g_run = 1;
static volatile sig_atomic_t g_hup = 0;

static void on_stop(int sig)
{
    (void)sig;
    g_run = 0;
}

static void on_hup(int sig)
{
    (void)sig;
    g_hup = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: brightmatter [-c FILE] [run|broker|config|version]\n"
               "  run      run the engine (default)\n"
               "  broker   host the embedded Kafka broker alone; writes <run_dir>/bootstrap\n"
               "  config   print the effective configuration (file + BM_* environment)\n"
               "  -c FILE  configuration file (default: $BM_CONFIG, else built-in defaults)\n");
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int run_broker(const bm_config *cfg)
{
    char err[512], path[1100];
    bm_kafka_bootstrap_path(cfg, path, sizeof path);
    if (bm_mkdirs(cfg->run_dir) != 0) {
        fprintf(stderr, "brightmatter: cannot create %s: %s\n", cfg->run_dir, strerror(errno));
        return 1;
    }
    bm_broker *b = bm_broker_start(cfg->embedded_partitions, path, err, sizeof err);
    if (!b) {
        fprintf(stderr, "brightmatter: %s\n", err);
        return 1;
    }
    printf("%s\n", bm_broker_bootstraps(b));
    fflush(stdout);
    while (g_run)
        pause();
    bm_broker_stop(b);
    return 0;
}

static int run_engine(const bm_config *cfg)
{
    install_signals();
    char err[1024];
    bm_engine *e = bm_engine_start(cfg, &g_run, err, sizeof err);
    if (!e) {
        bm_error("engine", "cannot start: %s", err);
        return 1;
    }
    bm_service_ready("processing");
    /* SIGHUP only raises a flag; the reload itself happens at a batch boundary. */
    while (g_run) {
        bm_service_watchdog();
        if (g_hup) {
            g_hup = 0;
            bm_engine_request_reload(e);
        }
        bm_engine_run_once(e);
    }
    bm_service_stopping();
    bm_engine_stop(e);
    bm_info("engine", "stopped");
    return 0;
}

static int worker_main(void *ud)
{
    return run_engine(ud);
}

/* SIGTERM ends the broker process; SIGINT and SIGHUP (a terminal's, sent to the
 * whole group) do not: the master stops it after its worker has stopped. */
static void broker_child_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
}

/*
 * kafka.brokers=embedded under a master: the embedded broker lives in a
 * process of its own, forked by the master before the first worker and kept
 * across worker restarts, so a worker that crashes (or is killed) comes back
 * to the events it had not consumed yet. Writes the bootstrap address into
 * `bootstrap`; the process id, or -1 with err.
 */
static pid_t start_broker_process(const bm_config *cfg, char *bootstrap, size_t len, char *err,
                                  size_t errlen)
{
    int fds[2];
    if (bm_mkdirs(cfg->run_dir) != 0 || pipe(fds) != 0) {
        snprintf(err, errlen, "embedded broker: %s", strerror(errno));
        return -1;
    }
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "embedded broker: fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlives the master */
        if (getppid() != master)
            _exit(1);
        broker_child_signals();
        char path[1100], why[512];
        bm_kafka_bootstrap_path(cfg, path, sizeof path);
        bm_broker *b = bm_broker_start(cfg->embedded_partitions, path, why, sizeof why);
        if (!b) {
            bm_error("kafka", "embedded broker: %s", why);
            _exit(1);
        }
        dprintf(fds[1], "%s\n", bm_broker_bootstraps(b));
        close(fds[1]);
        while (g_run)
            pause();
        bm_broker_stop(b);
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < len && (r = read(fds[0], bootstrap + n, len - 1 - n)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        n += (size_t)r;
        if (memchr(bootstrap, '\n', n))
            break;
    }
    close(fds[0]);
    bootstrap[n] = '\0';
    bootstrap[strcspn(bootstrap, "\n")] = '\0';
    if (!bootstrap[0]) {
        snprintf(err, errlen, "embedded broker process did not start (see its log line above)");
        waitpid(pid, NULL, 0);
        return -1;
    }
    bm_info("kafka", "embedded broker process pid=%d bootstrap=%s (kept across worker restarts)",
            (int)pid, bootstrap);
    return pid;
}

/* The master process restarts the worker after a crash (core/supervisor). */
static int run_supervised(const bm_config *cfg)
{
    /* Before anything in run_dir is touched: a second engine on the same run_dir
     * would clear this one's module copies and take its admin socket. The master
     * holds the lock; the workers it forks share it. */
    char err[1024];
    if (bm_mkdirs(cfg->run_dir) != 0) {
        bm_error("engine", "cannot start: engine.run_dir %s: %s", cfg->run_dir, strerror(errno));
        return 1;
    }
    if (bm_runlock_take(cfg->run_dir, err, sizeof err) < 0) {
        bm_error("engine", "cannot start: %s", err);
        return 1;
    }
    if (!cfg->supervise)
        return run_engine(cfg);
    signal(SIGPIPE, SIG_IGN);
    bm_supervisor_opts o = {.backoff_min_ms = 250,
                            .backoff_max_ms = cfg->restart_backoff_max_ms,
                            .stable_ms = 60000,
                            .stop_timeout_ms = cfg->stop_timeout_ms};
    static bm_config wcfg; /* what every worker runs with */
    wcfg = *cfg;
    pid_t broker = -1;
    if (strcmp(cfg->brokers, "embedded") == 0) {
        broker = start_broker_process(cfg, wcfg.brokers, sizeof wcfg.brokers, err, sizeof err);
        if (broker < 0) {
            bm_error("engine", "cannot start: %s", err);
            return 1;
        }
    }
    int rc = bm_supervisor_run(&o, worker_main, &wcfg);
    if (broker > 0) {
        kill(broker, SIGTERM);
        waitpid(broker, NULL, 0);
    }
    return rc;
}

int main(int argc, char **argv)
{
    const char *conf_path = getenv("BM_CONFIG");
    int opt;
    while ((opt = getopt(argc, argv, "c:h")) != -1) {
        if (opt == 'c') {
            conf_path = optarg;
        } else {
            usage(opt == 'h' ? stdout : stderr);
            return opt == 'h' ? 0 : 2;
        }
    }
    const char *cmd = optind < argc ? argv[optind] : "run";
    bm_config cfg;
    char err[1024];
    if (bm_config_load(&cfg, conf_path, err, sizeof err) != 0) {
        fprintf(stderr, "brightmatter: config error: %s\n", err);
        return 2;
    }
    if (bm_log_set_level_name(cfg.log_level) != 0) {
        fprintf(stderr, "brightmatter: config error: engine.log_level: unknown level '%s'\n",
                cfg.log_level);
        return 2;
    }
    bm_kafka_props_set(cfg.kafka_props);
    if (strcmp(cmd, "run") == 0)
        return run_supervised(&cfg);
    install_signals();
    if (strcmp(cmd, "broker") == 0)
        return run_broker(&cfg);
    if (strcmp(cmd, "config") == 0) {
        bm_config_dump(&cfg, stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0) {
        printf("brightmatter %s (module ABI %u)\n", BM_VERSION, BM_ABI_VERSION);
        return 0;
    }
    usage(stderr);
    return 2;
}
