"""Reports built from results directories: `results` reads and validates them, `leaderboard`
lays several runs out as a table (Markdown or HTML)."""
