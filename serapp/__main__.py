from serapp.cli import main

raise SystemExit(main())
