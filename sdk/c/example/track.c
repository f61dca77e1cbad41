/*
 * bm-client-example: tracks a few events for a player, sends them, and prints
 * the top of a leaderboard.
 *
 *   bm-client-example <base_url> <api_key> <game_id> <user_id> [<leaderboard_id>]
 *
 * The queue lives in ./bm-queue (or $BM_QUEUE_DIR): run it with the gateway down, and the events
 * wait there until a later run (or the same one, retrying) gets them through.
 */
#include <brightmatter/client.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s base_url api_key game_id user_id [leaderboard_id]\n", argv[0]);
        return 2;
    }
    char err[512];
    /* Step 1: open the client; events queued by an earlier run are still there. */
    const char *dir = getenv("BM_QUEUE_DIR");
    bm_client_options o = {.base_url = argv[1],
                           .api_key = argv[2],
                           .game_id = argv[3],
                           .queue_dir = dir ? dir : "bm-queue",
                           .fsync = BM_CLIENT_FSYNC_EVERY};
    bm_client *c = bm_client_open(&o, err, sizeof err);
    if (!c) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    /* Step 2: track. Each event is on disk, with its id, when the call returns. */
    for (int i = 1; i <= 3; i++) {
        char data[64], id[37];
        snprintf(data, sizeof data, "{\"score\": %d, \"kills\": %d}", i * 10, i);
        if (bm_client_track(c, argv[4], "MATCH_END", data, id, err, sizeof err) != 0) {
            fprintf(stderr, "track: %s\n", err);
            bm_client_close(c);
            return 1;
        }
        printf("queued %s\n", id);
    }
    /* Step 3: send. On failure the events stay queued for the next flush. */
    if (bm_client_flush(c, err, sizeof err) != 0)
        fprintf(stderr, "not sent yet (%zu queued): %s\n", bm_client_pending(c), err);
    else
        printf("sent; %zu queued\n", bm_client_pending(c));
    /* Step 4: read a board. */
    if (argc > 5) {
        bm_board b;
        if (bm_client_board(c, argv[5], 10, &b, err, sizeof err) == 0) {
            printf("%s\n", b.name);
            for (size_t i = 0; i < b.n; i++)
                printf("%3lld  %-24s %g\n", b.entries[i].rank, b.entries[i].user_id,
                       b.entries[i].score);
            bm_board_free(&b);
        } else {
            fprintf(stderr, "board: %s\n", err);
        }
    }
    bm_client_close(c);
    return 0;
}
