"""datagen: records, the DuckDB store, task generators, problem sources, teachers,
prompt strategies and the async batch engine."""
