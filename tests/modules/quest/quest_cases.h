/* Hand-checked quest scenarios and config refusals (quest_cases.c). */
#ifndef BM_TEST_QUEST_CASES_H
#define BM_TEST_QUEST_CASES_H

void test_invalid_configs(void **state);
void test_valid_configs(void **state);
void test_cooldown(void **state);
void test_non_repeatable_stops(void **state);
void test_time_based(void **state);
void test_prerequisite_same_event(void **state);
void test_level_and_whitelist(void **state);
void test_messages(void **state);
void test_window_and_other_games(void **state);
void test_upper_bound_decided_at_end(void **state);
void test_string_and_boolean_targets(void **state);
void test_nonfinite_refused(void **state);

#define QUEST_CASE_TESTS                                                                           \
    cmocka_unit_test(test_invalid_configs), cmocka_unit_test(test_valid_configs),                  \
        cmocka_unit_test(test_cooldown), cmocka_unit_test(test_non_repeatable_stops),              \
        cmocka_unit_test(test_time_based), cmocka_unit_test(test_prerequisite_same_event),         \
        cmocka_unit_test(test_level_and_whitelist), cmocka_unit_test(test_messages),               \
        cmocka_unit_test(test_window_and_other_games),                                             \
        cmocka_unit_test(test_upper_bound_decided_at_end),                                         \
        cmocka_unit_test(test_string_and_boolean_targets),                                         \
        cmocka_unit_test(test_nonfinite_refused)

#endif
