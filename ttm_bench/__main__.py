from ttm_bench.cli import main

raise SystemExit(main())
