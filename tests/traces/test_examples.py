from __future__ import annotations

from themis_env.resources import traces_dir
from themis_env.traces.examples import write_examples


def test_shipped_examples_are_what_the_script_writes(tmp_path):
    written = write_examples(tmp_path)
    shipped = traces_dir()
    assert written
    for path in written:
        assert (shipped / path.name).read_bytes() == path.read_bytes(), (
            f"traces/{path.name} is stale: run python -m themis_env.traces.examples"
        )


def test_shipped_folder_holds_only_small_generated_files_and_docs():
    for path in traces_dir().iterdir():
        assert path.suffix in (".csv", ".txt", ".md"), path.name
        assert path.stat().st_size < 100_000, path.name
