from havengate.cli import main

raise SystemExit(main())
