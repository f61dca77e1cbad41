/* Hand-checked tournament scenarios and config refusals (tn_cases.c). */
#ifndef BM_TEST_TN_CASES_H
#define BM_TEST_TN_CASES_H

void test_tn_invalid_configs(void **state);
void test_tn_prize_table(void **state);
void test_tn_ties_at_boundary(void **state);
void test_tn_fee_and_join(void **state);
void test_tn_grace_cut(void **state);
void test_tn_split(void **state);
void test_tn_score_by_community(void **state);
void test_tn_runs(void **state);
void test_tn_recurring_streams(void **state);

#define TN_CASE_TESTS                                                                              \
    cmocka_unit_test(test_tn_invalid_configs), cmocka_unit_test(test_tn_prize_table),              \
        cmocka_unit_test(test_tn_ties_at_boundary), cmocka_unit_test(test_tn_fee_and_join),        \
        cmocka_unit_test(test_tn_grace_cut), cmocka_unit_test(test_tn_split),                      \
        cmocka_unit_test(test_tn_score_by_community), cmocka_unit_test(test_tn_runs),              \
        cmocka_unit_test(test_tn_recurring_streams)

#endif
