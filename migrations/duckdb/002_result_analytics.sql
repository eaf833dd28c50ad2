-- Result analytics (coordinator/analytics). task_results holds one row per task attempt and, for
-- pytest tasks, one row per test case of the final attempt (type = 'case', test_name = node id).
-- The views split them and lift the model tag into a column for grouping.
CREATE VIEW result_attempts AS
    SELECT *, json_extract_string(tags, '$.model') AS model
    FROM task_results WHERE type IS DISTINCT FROM 'case';

CREATE VIEW result_cases AS
    SELECT *, json_extract_string(tags, '$.model') AS model
    FROM task_results WHERE type = 'case';

CREATE INDEX idx_task_results_test ON task_results (test_name);
