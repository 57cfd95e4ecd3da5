"""The installed layout: the card's four folders and one package, and nobody else's names."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CARD = {"db", "resolvers", "rest", "schema"}


def _our_top_level_names() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    setuptools = project["tool"]["setuptools"]
    names = {package.split(".")[0] for package in setuptools["packages"]}
    return names | set(setuptools.get("py-modules", []))


def _top_level_names(distribution: metadata.Distribution) -> set[str]:
    listed = distribution.read_text("top_level.txt")
    if listed is not None:
        return {line.strip() for line in listed.splitlines() if line.strip()}
    names = set()
    for file in distribution.files or ():
        top = file.parts[0]
        if top.endswith((".dist-info", ".data")) or top in ("..", "__pycache__"):
            continue
        names.add(top.removesuffix(".py"))
    return names


def test_the_wheel_installs_the_card_folders_and_at_most_two_other_names() -> None:
    names = _our_top_level_names()
    assert CARD <= names
    assert len(names - CARD) <= 2
    assert "chats_api" in names


def test_no_other_installed_distribution_provides_our_names() -> None:
    ours = _our_top_level_names()
    clashes = {
        distribution.metadata["Name"]: sorted(_top_level_names(distribution) & ours)
        for distribution in metadata.distributions()
        if distribution.metadata["Name"] != "chats-api"
    }
    assert {name: found for name, found in clashes.items() if found} == {}


def test_every_module_of_chats_api_has_its_layer() -> None:
    """The layers contract names each module of `chats_api`: a new one must be given its place
    (the package is both the top of the house, the app, and the bottom, the logs)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    [layers] = [
        contract["layers"]
        for contract in project["tool"]["importlinter"]["contracts"]
        if contract["type"] == "layers"
    ]
    named = {name.strip() for layer in layers for name in layer.split("|")}
    modules = {
        f"chats_api.{path.stem}"
        for path in (REPO / "chats_api").glob("*.py")
        if path.stem != "__init__"
    }
    assert modules - named == set()
