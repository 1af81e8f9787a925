"""Reports built from results directories: `results` reads and validates them, `leaderboard`
lays several runs out as a table (Markdown, HTML; `latex`: booktabs), `compare` pairs runs
against a baseline (`run_samples` reads the per-sample data, `compare_tables` renders), and
`html_report` writes the visual report (a folder with the leaderboard, `plots` and the video
`gallery`)."""
