"""The script PyInstaller freezes (packaging/studio.spec): the `studio` command, whose
`--worker ...` runs a worker (see studio.entry)."""

from studio.entry import main

if __name__ == "__main__":
    raise SystemExit(main())
