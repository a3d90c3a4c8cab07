from fastnn.cli import main

raise SystemExit(main())
