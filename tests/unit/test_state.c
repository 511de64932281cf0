/*
** test_state.c: activations and the KV cache (src/memory/state.c): tiled writes
** assemble a matrix and zero what no tile wrote, a new version starts
** over, wrong shapes and sizes that would overflow are refused, the KV
** cache keeps positions and is reused by prefix, every byte is counted,
** the statement scratch hands out room and grows to what a statement
** asked for, and state_holds knows which memory is the state's.
*/
#include "../testutil.h"

#include <string.h>

#include "memory/state.h"

static state *step_of(int64_t n){
  state *s = state_new(2, 4, 64);
  ck_assert_ptr_nonnull(s);
  int tokens[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
  ck_assert_int_eq(state_step(s, 0, tokens, n), 0);
  return s;
}

/* Write tile `tile` of `name`, rows x w (rows 0: the step's), every value
** `value + column`. */
static void write_tile(state *s, const char *name, int64_t rows, int64_t tile, int64_t w,
                       float value){
  float data[64];
  int64_t n = rows ? rows : s->n;
  for(int64_t r = 0; r < n; r++){
    for(int64_t c = 0; c < w; c++) data[r * w + c] = value + (float)c;
  }
  char err[128];
  ck_assert_msg(state_act_write(s, name, rows, tile, data, (size_t)(n * w) * sizeof(float),
                                err, sizeof err) == 0, "%s", err);
}

START_TEST(test_tiles_assemble){
  state *s = step_of(2);
  write_tile(s, "q", 0, 0, 3, 10);
  write_tile(s, "q", 0, 1, 3, 20);
  write_tile(s, "q", 0, 2, 2, 30);       /* a narrower last tile */
  state_act *a = state_act_find(s, "q");
  ck_assert_int_eq(a->rows, 2);
  ck_assert_int_eq(a->cols, 8);
  const float *m = state_act_data(a);
  const float want[8] = { 10, 11, 12, 20, 21, 22, 30, 31 };
  for(int r = 0; r < 2; r++){
    for(int c = 0; c < 8; c++) ck_assert_float_eq(m[r * 8 + c], want[c]);
  }
  state_free(s);
}
END_TEST

/* A version that starts at tile 2 (or skips one) has zeros where no tile
** went, even in a buffer that held other values before. */
START_TEST(test_unwritten_columns_are_zero){
  state *s = step_of(2);
  for(int t = 0; t < 4; t++) write_tile(s, "x", 0, t, 3, 5);  /* non-zeros */
  write_tile(s, "x", 0, 2, 3, 40);       /* not above the last: a new version */
  write_tile(s, "x", 0, 4, 3, 60);       /* tile 3 skipped */
  state_act *a = state_act_find(s, "x");
  ck_assert_int_eq(a->cols, 15);
  const float *m = state_act_data(a);
  for(int r = 0; r < 2; r++){
    for(int c = 0; c < 15; c++){
      float want = c >= 6 && c < 9 ? 40 + (c - 6) : c >= 12 ? 60 + (c - 12) : 0;
      ck_assert_float_eq(m[r * 15 + c], want);
    }
  }
  state_free(s);
}
END_TEST

START_TEST(test_new_version){
  state *s = step_of(1);
  write_tile(s, "h", 0, 0, 4, 1);
  write_tile(s, "h", 0, 1, 4, 2);
  write_tile(s, "h", 0, 0, 2, 7);        /* tile 0 again: a new, narrower matrix */
  state_act *a = state_act_find(s, "h");
  ck_assert_int_eq(a->cols, 2);
  ck_assert_float_eq(state_act_data(a)[1], 8);
  write_tile(s, "h", 3, 0, 2, 9);        /* rows given: 3 rows, not the step's 1 */
  ck_assert_int_eq(a->rows, 3);
  state_free(s);
}
END_TEST

START_TEST(test_wrong_shapes){
  state *s = step_of(2);
  char err[128];
  float data[5] = { 0 };
  ck_assert_int_eq(state_act_write(s, "q", 0, 0, data, 5 * sizeof(float), err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "2 rows"));
  ck_assert_int_eq(state_act_write(s, "q", 0, -1, data, 4 * sizeof(float), err, sizeof err), -1);
  ck_assert_int_eq(state_act_write(s, "a name far too long for an activation slot", 0, 0,
                                   data, 4 * sizeof(float), err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "no room"));
  ck_assert_int_eq(state_kv_write(s, 2, 'k', data, 4 * sizeof(float), err, sizeof err), -1);
  ck_assert_int_eq(state_kv_write(s, 0, 'k', data, 4 * sizeof(float), err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "[2][4]"));
  int tokens[1] = { 0 };
  ck_assert_int_eq(state_step(s, 64, tokens, 1), -1);   /* beyond the context */
  state_free(s);
}
END_TEST

/* rows and tile come from SQL (act's columns): sizes made from them are
** refused when they would overflow, never wrapped into a small buffer or
** a write before it.  tile INT64_MAX was a segfault, and a tile whose
** column tile * width wrapped to -64 wrote 256 bytes before the buffer. */
START_TEST(test_sizes_from_sql){
  state *s = step_of(2);
  char err[256];
  static float data[64];
  ck_assert_int_eq(state_act_write(s, "zz", 1, INT64_MAX, data, sizeof data, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "tile 9223372036854775807 of 'zz'"), "%s", err);
  ck_assert_ptr_null(state_act_find(s, "zz"));
  ck_assert_int_eq(state_act_write(s, "zz", 1, 0, data, sizeof data, err, sizeof err), 0);
  int64_t wraps = ((int64_t)1 << 58) - 1;      /* wraps * 64 = 2^64 - 64 */
  ck_assert_int_eq(state_act_write(s, "zz", 1, wraps, data, sizeof data, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "would pass the 2147483647 columns"), "%s", err);
  ck_assert_int_eq(state_act_find(s, "zz")->cols, 64);
  /* rows * sizeof(float) wrapped to 0, and divided by it */
  ck_assert_int_eq(state_act_write(s, "q", (int64_t)1 << 62, 0, data, sizeof data, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "float32 matrix of 4611686018427387904 rows"), "%s", err);
  ck_assert_int_eq(state_act_write(s, "q", 65, 0, data, sizeof data, err, sizeof err), -1);
  ck_assert_int_eq(state_act_write(s, "q", -1, 0, data, sizeof data, err, sizeof err), -1);
  ck_assert_int_eq(state_act_write(s, "q", 64, 0, data, sizeof data, err, sizeof err), 0);
  state_free(s);
  /* no step yet: the KV cache has no positions to take */
  s = state_new(1, 4, 16);
  ck_assert_int_eq(state_kv_write(s, 0, 'k', data, 0, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "no step"), "%s", err);
  state_free(s);
}
END_TEST

/* Positions land in the cache at pos0; a prompt sharing a prefix with
** what the cache holds reuses it, and always leaves one position to run. */
START_TEST(test_kv_cache){
  state *s = state_new(1, 2, 16);
  int first[3] = { 7, 8, 9 };
  ck_assert_int_eq(state_step(s, 0, first, 3), 0);
  float kv[6] = { 1, 2, 3, 4, 5, 6 };
  char err[128];
  ck_assert_int_eq(state_kv_write(s, 0, 'k', kv, sizeof kv, err, sizeof err), 0);
  state_step_done(s);
  int next[1] = { 10 };
  ck_assert_int_eq(state_step(s, 3, next, 1), 0);
  float kv2[2] = { 7, 8 };
  ck_assert_int_eq(state_kv_write(s, 0, 'k', kv2, sizeof kv2, err, sizeof err), 0);
  state_step_done(s);
  ck_assert_float_eq(s->kv[0].k[2 * 2 + 1], 6);
  ck_assert_float_eq(s->kv[0].k[3 * 2], 7);
  int same[4] = { 7, 8, 9, 10 }, other[3] = { 7, 5, 9 };
  ck_assert_int_eq(state_reuse(s, same, 4), 3);    /* n - 1 at most */
  ck_assert_int_eq(state_reuse(s, other, 3), 1);
  state_reset(s);
  ck_assert_int_eq(state_reuse(s, same, 4), 0);
  state_free(s);
}
END_TEST

START_TEST(test_bytes_counted){
  state *s = step_of(2);
  size_t before = state_bytes(s);
  ck_assert_uint_ge(before, 2 * 2 * 16 * 4 * sizeof(float));  /* k and v, 2 layers */
  write_tile(s, "big", 0, 0, 16, 0);
  ck_assert_uint_ge(state_bytes(s), before + 2 * 16 * sizeof(float));
  state_free(s);
}
END_TEST

/* The scratch hands out nothing while closed; a statement that asked for
** more than it held is served from elsewhere (NULL), and the scratch then
** grows so the same requests fit next time, distinct and aligned, and
** counted among the state's bytes. */
START_TEST(test_scratch){
  state *s = step_of(1);
  ck_assert_ptr_null(state_scratch(s, 10));
  state_scratch_open(s);
  ck_assert_ptr_null(state_scratch(s, 100));
  ck_assert_ptr_null(state_scratch(s, 3));
  state_scratch_close(s);
  size_t bytes = state_bytes(s);
  state_scratch_open(s);
  float *a = state_scratch(s, 100), *b = state_scratch(s, 3);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  ck_assert(b >= a + 100);
  ck_assert_uint_eq((uintptr_t)a % 64, 0);
  ck_assert_uint_eq((uintptr_t)b % 64, 0);
  ck_assert(state_scratch_holds(s, a) && state_scratch_holds(s, b + 2));
  int outside = 0;
  ck_assert(!state_scratch_holds(s, &outside));
  memset(a, 1, 100 * sizeof(float));
  memset(b, 2, 3 * sizeof(float));
  state_scratch_close(s);
  ck_assert_uint_eq(state_bytes(s), bytes);
  ck_assert_uint_ge(bytes, 103 * sizeof(float));
  state_free(s);
}
END_TEST

/* state_holds vouches for activations, the KV cache and the scratch, whole
** ranges inside them only, and for nothing else. */
START_TEST(test_holds){
  state *s = step_of(2);
  write_tile(s, "x", 0, 0, 4, 0);
  const state_act *x = state_act_find(s, "x");
  ck_assert(state_holds(s, x->data, 8 * sizeof(float)));
  ck_assert(state_holds(s, x->data + 4, 4 * sizeof(float)));
  ck_assert(!state_holds(s, x->data + 4, (size_t)x->capacity * sizeof(float)));
  ck_assert(state_holds(s, s->kv[1].v, (size_t)(s->kv_capacity * s->kv_dim) * sizeof(float)));
  ck_assert(!state_holds(s, s->kv[1].v + 1, (size_t)(s->kv_capacity * s->kv_dim) * sizeof(float)));
  state_scratch_open(s);
  ck_assert_ptr_null(state_scratch(s, 16));   /* the scratch grows at close */
  state_scratch_close(s);
  state_scratch_open(s);
  float *scratch = state_scratch(s, 16);
  ck_assert(state_holds(s, scratch, 16 * sizeof(float)));
  state_scratch_close(s);
  float elsewhere[4];
  ck_assert(!state_holds(s, elsewhere, sizeof elsewhere));
  state_free(s);
}
END_TEST

static Suite *state_suite(void){
  Suite *s = suite_create("state");
  TCase *tc = tcase_create("state");
  tcase_add_test(tc, test_tiles_assemble);
  tcase_add_test(tc, test_unwritten_columns_are_zero);
  tcase_add_test(tc, test_new_version);
  tcase_add_test(tc, test_wrong_shapes);
  tcase_add_test(tc, test_sizes_from_sql);
  tcase_add_test(tc, test_kv_cache);
  tcase_add_test(tc, test_bytes_counted);
  tcase_add_test(tc, test_scratch);
  tcase_add_test(tc, test_holds);
  suite_add_tcase(s, tc);
  return s;
}

TEST_MAIN(state_suite)
