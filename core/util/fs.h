/* File-system helpers. */
#ifndef BM_FS_H
#define BM_FS_H

/* mkdir -p: creates path and its missing parents (0755); 0, or -1 with errno. */
int bm_mkdirs(const char *path);

#endif
