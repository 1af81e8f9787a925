"""Reports built from results directories: `results` reads and validates them, `leaderboard`
lays several runs out as a table (Markdown or HTML), and `html_report` writes the visual report
(a folder with the leaderboard, `plots` and the video `gallery`)."""
