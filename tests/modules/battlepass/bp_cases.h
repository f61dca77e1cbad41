/* Hand-checked battle pass scenarios and config refusals (bp_cases.c). */
#ifndef BM_TEST_BP_CASES_H
#define BM_TEST_BP_CASES_H

void test_bp_invalid_configs(void **state);
void test_bp_daily_limit_midnight(void **state);
void test_bp_late_events(void **state);
void test_bp_purchase_after_progress(void **state);
void test_bp_entry_purchase(void **state);
void test_bp_tier_curve(void **state);
void test_bp_foreign_commands(void **state);
void test_bp_formula(void **state);
void test_bp_messages(void **state);
void test_bp_product_tiers(void **state);
void test_bp_player_level(void **state);
void test_bp_nonfinite(void **state);

#define BP_CASE_TESTS                                                                              \
    cmocka_unit_test(test_bp_invalid_configs), cmocka_unit_test(test_bp_daily_limit_midnight),     \
        cmocka_unit_test(test_bp_late_events), cmocka_unit_test(test_bp_purchase_after_progress),  \
        cmocka_unit_test(test_bp_entry_purchase), cmocka_unit_test(test_bp_tier_curve),            \
        cmocka_unit_test(test_bp_foreign_commands), cmocka_unit_test(test_bp_formula),             \
        cmocka_unit_test(test_bp_messages), cmocka_unit_test(test_bp_product_tiers),               \
        cmocka_unit_test(test_bp_player_level), cmocka_unit_test(test_bp_nonfinite)

#endif
