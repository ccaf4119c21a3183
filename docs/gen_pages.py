"""Pages generated at build time by mkdocs-gen-files (see `plugins` in mkdocs.yml).

- `reference/`: one API page per public module of `zoo` and `export`, rendered by
  mkdocstrings from the source (griffe reads it statically: nothing is imported, so
  TensorFlow is not needed to build the docs), an index, and the section's nav file.
- `benchmarks/results/`: one page per result in `benchmarks/results/<group>/`, built from
  `<name>.json` and `<name>.md` as the scripts wrote them, its images, an index grouped
  by script folder with the descriptions from `benchmarks/README.md`, and a nav file.
- `presets/`: the model card of each built-in preset (zoo/presets/<name>/MODEL_CARD.md),
  which the family pages link to, and an index.
- `changelog.md` and `contributing.md`: CHANGELOG.md and CONTRIBUTING.md.

The pages exist only in the build (mkdocs-gen-files keeps them virtual), so the
figures on the site are always the ones in the repository.
"""

import ast
import json
import posixpath
import re
from pathlib import Path

import mkdocs_gen_files
from mkdocs.structure.files import InclusionLevel

REPO = Path(__file__).resolve().parent.parent


def write_nav(folder, items):
    """Writes `folder/SUMMARY.md`, the nav of a generated section (mkdocs-literate-nav).

    literate-nav reads it through the link `folder/` in docs/SUMMARY.md. Marked excluded,
    it is not also built into a page of its own (literate-nav only demotes a nav file that
    is still in the nav, and exclude_docs in mkdocs.yml does not reach generated files).
    """
    name = f"{folder}/SUMMARY.md"
    with mkdocs_gen_files.open(name, "w") as out:
        out.write("\n".join(items) + "\n")
    generated = mkdocs_gen_files.FilesEditor.current().files.get_file_from_path(name)
    if generated is not None:
        generated.inclusion = InclusionLevel.EXCLUDED


# ---------------------------------------------------------------------------------------
# API reference

PACKAGES = ("zoo", "export")
# Not documented: the command line has its own guide and `vaezoo --help`; the others are
# helpers the public API is built on, with no entry point of their own for users.
SKIPPED = {"zoo.cli", "zoo.distributions", "zoo.io_utils", "zoo.validation"}
# Packages whose __init__ only lists their children: each child gets a page instead.
EXPANDED = {"zoo.applications"}
# Sections of the reference nav, in reading order. A public module missing here still gets
# a page, at the end of the section of its package (see `_reference_sections`).
SECTIONS = [
    ("Package", ["zoo"]),
    ("Models", ["zoo.model", "zoo.vae", "zoo.hvae", "zoo.flow_prior", "zoo.vaegan",
                "zoo.iwae", "zoo.families"]),
    ("Building blocks", ["zoo.likelihoods", "zoo.priors", "zoo.flows", "zoo.networks",
                         "zoo.losses", "zoo.sampler"]),
    ("Data and presets", ["zoo.data", "zoo.tables", "zoo.presets"]),
    ("Training and evaluation", ["zoo.training", "zoo.evaluation", "zoo.plotting"]),
    ("Applications", ["zoo.applications.anomaly", "zoo.applications.imputation",
                      "zoo.applications.denoising", "zoo.applications.latent_space",
                      "zoo.applications.probes"]),
    ("Export", ["export", "export.serving", "export.lite", "export.edge", "export.graphs",
                "export.report"]),
]


def _children(package_dir):
    """(name, path) of the modules and packages directly inside `package_dir`.

    A directory counts only with an __init__.py: zoo/presets/<name>/ and the like hold
    data, not code.
    """
    for path in sorted(package_dir.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.is_dir() and (path / "__init__.py").is_file():
            yield path.name, path
        elif path.suffix == ".py" and path.is_file():
            yield path.stem, path


def public_modules():
    """{dotted name: source file} of every module that gets a reference page."""
    found = {}

    def visit(name, path):
        if name in SKIPPED:
            return
        if name in EXPANDED:
            for child, child_path in _children(path):
                visit(f"{name}.{child}", child_path)
            return
        found[name] = path / "__init__.py" if path.is_dir() else path

    for package in PACKAGES:
        package_dir = REPO / package
        found[package] = package_dir / "__init__.py"
        for child, child_path in _children(package_dir):
            visit(f"{package}.{child}", child_path)
    return found


def _reference_sections(modules):
    placed = set()
    sections = []
    for title, names in SECTIONS:
        present = [name for name in names if name in modules]
        placed.update(present)
        sections.append((title, present))
    for name in sorted(set(modules) - placed):
        # A new module lands in the section of its nearest listed parent package.
        title = next((title for title, names in SECTIONS
                      for parent in names if name.startswith(parent + ".")), "More")
        if title not in dict(sections):
            sections.append((title, []))
        dict(sections)[title].append(name)
    return [(title, names) for title, names in sections if names]


def _summary_line(source_file):
    """First line of a module's docstring, read without importing it."""
    try:
        docstring = ast.get_docstring(ast.parse(source_file.read_text(encoding="utf-8")))
    except (OSError, SyntaxError, UnicodeDecodeError):
        docstring = None
    return docstring.strip().splitlines()[0] if docstring else ""


def _reexports(package, modules):
    """Markdown table of the names `package` imports from its submodules, each linked to
    the page that documents it, or "" if there are none.

    mkdocstrings renders imported names only when `__all__` lists them, and griffe cannot
    read a computed `__all__` such as zoo's (it appends the registered families), so
    the package's page would otherwise not show what `import zoo` gives.
    """
    import griffe  # installed with mkdocstrings[python]; reads the source, imports nothing

    try:
        loaded = griffe.load(package, search_paths=[str(REPO)])
    except (ImportError, OSError, griffe.GriffeError):
        return ""  # the table is an extra; mkdocstrings reports what griffe cannot read
    rows = []
    for name, member in loaded.members.items():
        if name.startswith("_") or not member.is_alias:
            continue
        target = member.target_path
        page = max((module for module in modules if target.startswith(module + ".")),
                   key=len, default=None)
        if page is None:
            continue
        try:
            docstring = member.final_target.docstring
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            docstring = None  # an alias griffe cannot follow: listed without a summary
        summary = docstring.value.strip().splitlines()[0] if docstring and docstring.value else ""
        rows.append(f"| [`{package}.{name}`]({page}.md#{target}) | {_table_cell(summary)} |")
    if not rows:
        return ""
    return "\n".join([f"## What `import {package}` gives", "", "| name | |", "| --- | --- |",
                      *rows, ""])


def write_reference():
    modules = public_modules()
    sections = _reference_sections(modules)
    for name in modules:
        with mkdocs_gen_files.open(f"reference/{name}.md", "w") as page:
            # The page's own title already names the module, so the root heading that
            # mkdocs.yml turns on for `:::` blocks in hand-written pages would repeat it;
            # members then start at heading level 2.
            page.write(f"# {name}\n\n::: {name}\n    options:\n      show_root_heading: false\n")
            if name in PACKAGES:
                page.write("\n" + _reexports(name, modules))
        mkdocs_gen_files.set_edit_path(f"reference/{name}.md",
                                       modules[name].relative_to(REPO).as_posix())

    lines = ["# API reference", "",
             "Generated from the docstrings in `zoo/` and `export/` when the site is built.",
             "Names with a leading underscore are private and not shown.", ""]
    nav = ["* [API reference](index.md)"]
    for title, names in sections:
        lines += [f"## {title}", "", "| module | |", "| --- | --- |"]
        lines += [f"| [`{name}`]({name}.md) | {_table_cell(_summary_line(modules[name]))} |"
                  for name in names]
        lines.append("")
        nav.append(f"* {title}")
        nav += [f"    * [{name}]({name}.md)" for name in names]
    with mkdocs_gen_files.open("reference/index.md", "w") as page:
        page.write("\n".join(lines))
    write_nav("reference", nav)


# ---------------------------------------------------------------------------------------
# Links in repository files copied into the site

_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def _site_path(repo_path):
    """Where a repository file appears in the site, or None if it does not."""
    if repo_path.startswith("docs/") and repo_path.endswith(".md"):
        return repo_path[len("docs/"):]
    if repo_path.startswith("benchmarks/results/"):
        return repo_path
    card = re.match(r"^zoo/presets/(\w+)/MODEL_CARD\.md$", repo_path)
    if card:
        return f"presets/{card.group(1)}.md"
    return {"CHANGELOG.md": "changelog.md", "CONTRIBUTING.md": "contributing.md"}.get(repo_path)


def rewrite_links(text, source, page):
    """Points relative links in the repository file `source` at their pages in the site.

    `source` and `page` are repository and site paths. A link to a file the site does not
    hold (a script, pyproject.toml) keeps its text without the link: in the repository
    it would resolve, here it would be a broken link that fails `mkdocs build --strict`.
    """
    def replace(match):
        bang, label, target = match.groups()
        if re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", target, re.IGNORECASE):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
        site = _site_path(resolved)
        if site is None:
            return "" if bang else label
        relative = posixpath.relpath(site, posixpath.dirname(page) or ".")
        return f"{bang}[{label}]({relative}{'#' + anchor if anchor else ''})"

    return _LINK.sub(replace, text)


def _table_cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def write_copy(source, page):
    text = (REPO / source).read_text(encoding="utf-8")
    with mkdocs_gen_files.open(page, "w") as out:
        out.write(rewrite_links(text, source, page))
    mkdocs_gen_files.set_edit_path(page, source)


# ---------------------------------------------------------------------------------------
# Built-in presets

def write_presets():
    """presets/<name>.md: the model card each built-in preset ships with."""
    cards = sorted((REPO / "zoo" / "presets").glob("*/MODEL_CARD.md"))
    index = ["# Built-in presets", "",
             "The models that ship with vaezoo, each loaded offline by name with",
             '`zoo.from_preset("<name>")`. Each page is the model card in the preset\'s folder.',
             "", "| preset | |", "| --- | --- |"]
    nav = ["* [Presets](index.md)"]
    for card in cards:
        name = card.parent.name
        source = card.relative_to(REPO).as_posix()
        write_copy(source, f"presets/{name}.md")
        # The card's first paragraph says what the model is ("`VAE` from vaezoo, ...").
        paragraphs = [p.strip() for p in card.read_text(encoding="utf-8").split("\n\n")]
        summary = next((p for p in paragraphs if p and not p.startswith("#")), "")
        index.append(f"| [`{name}`]({name}.md) | {_table_cell(summary)} |")
        nav.append(f"* [{name}]({name}.md)")
    with mkdocs_gen_files.open("presets/index.md", "w") as out:
        out.write("\n".join(index) + "\n")
    write_nav("presets", nav)


# ---------------------------------------------------------------------------------------
# Benchmark results

RESULTS = REPO / "benchmarks" / "results"
GROUP_ORDER = ("recipes", "quality", "speed", "experiments")
ENVIRONMENT_LABELS = {"date": "date", "python": "Python", "tensorflow": "TensorFlow",
                      "keras": "Keras", "tensorflow_probability": "TensorFlow Probability",
                      "cpu_count": "CPUs", "machine": "machine"}


def _first_sentence(text):
    return re.split(r"(?<=[.!?])\s+(?=[A-Z`])", text.strip(), maxsplit=1)[0]


def readme_scripts():
    """From benchmarks/README.md: group titles, and for each result name (script, text,
    written by the script): the first sentence of what the script measures, or for a file
    listed beside the script's results, the note on it. Missing or reshaped: empty."""
    titles, scripts = {}, {}
    try:
        readme = (REPO / "benchmarks" / "README.md").read_text(encoding="utf-8")
    except OSError:
        return titles, scripts
    group = None
    for line in readme.splitlines():
        heading = re.match(r"^##\s+`?(\w+)/`?:?\s*(.*)$", line)
        if heading:
            group = heading.group(1)
            titles[group] = heading.group(2).strip()
            continue
        if not (group and line.startswith("|")):
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        script = re.search(r"\[`?([\w.-]+\.py)`?\]", cells[0]) if cells else None
        if not script or len(cells) < 3:
            continue
        path = f"benchmarks/{group}/{script.group(1)}"
        description = _LINK.sub(lambda m: m.group(2), _first_sentence(cells[1]))
        # The results the script writes are linked as .md; other files it lists are named
        # as `x.json`, some followed by a note in brackets, which is what they hold.
        for name in re.findall(r"results/\w+/([\w.-]+)\.md", cells[2]):
            scripts[(group, name)] = (path, description, True)
        for names, note in re.findall(r"((?:`[\w.-]+\.json`(?:,\s*)?)+)(?:\s*\(([^)]*)\))?",
                                      cells[2]):
            note = note.split(";")[0].strip()
            for name in re.findall(r"`([\w.-]+)\.json`", names):
                scripts.setdefault((group, name), (path, note[:1].upper() + note[1:], False))
    return titles, scripts


def _groups():
    present = [path.name for path in sorted(RESULTS.iterdir()) if path.is_dir()]
    return [g for g in GROUP_ORDER if g in present] + [g for g in present if g not in GROUP_ORDER]


def _format_value(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _command_of(data, table_lines):
    if isinstance(data, dict) and data.get("command"):
        return data["command"]
    if table_lines:
        written_by = re.match(r"^<!--\s*written by:\s*(.*?)\s*-->\s*$", table_lines[0])
        if written_by:
            return written_by.group(1)
    return None


def _description(script, command):
    """One line on what a result holds: the script's description in benchmarks/README.md,
    or for a file written by the command line, which command."""
    path, text, written_by_script = script or (None, "", False)
    if written_by_script:
        return f"{text} Script: `{path}`."
    if text:
        return f"{text} (listed with `{path}`)."
    cli = re.search(r"\bvaezoo (\w+)", command or "")
    if cli:
        return f"Figures written by `vaezoo {cli.group(1)}`."
    return f"Listed with `{path}`." if path else ""


def write_result_page(group, name, images, script):
    folder = RESULTS / group
    page_path = f"benchmarks/results/{group}/{name}.md"
    json_file, md_file = folder / f"{name}.json", folder / f"{name}.md"
    try:
        data = json.loads(json_file.read_text(encoding="utf-8")) if json_file.is_file() else None
    except ValueError as error:
        raise ValueError(f"{json_file.relative_to(REPO)} is not valid JSON: {error}") from error
    table_lines = md_file.read_text(encoding="utf-8").splitlines() if md_file.is_file() else []

    command = _command_of(data, table_lines)
    lines = [f"# {name}", "", _description(script, command), ""]
    lines += ["Written by:", "", "```bash", command, "```", ""] if command else \
             ["The file records no command.", ""]

    body = table_lines[1:] if table_lines and table_lines[0].startswith("<!--") else table_lines
    if body:
        source = f"benchmarks/results/{group}/{name}.md"
        lines += [rewrite_links("\n".join(body).strip(), source, page_path), ""]
    elif isinstance(data, dict):
        # A result without a table (`vaezoo eval --output`): its top-level figures.
        scalars = [(key, value) for key, value in data.items()
                   if key not in ("command", "environment")
                   and isinstance(value, (str, int, float, bool))]
        if scalars:
            lines += ["| field | value |", "| --- | --- |"]
            lines += [f"| `{key}` | {_table_cell(_format_value(value))} |" for key, value in scalars]
            lines.append("")

    for image in images:
        lines += [f"![{image.stem}]({image.name})", ""]
        with mkdocs_gen_files.open(f"benchmarks/results/{group}/{image.name}", "wb") as out:
            out.write(image.read_bytes())

    environment = data.get("environment") if isinstance(data, dict) else None
    if isinstance(environment, dict) and environment:
        lines += ["## Environment", "", "| | value |", "| --- | --- |"]
        lines += [f"| {ENVIRONMENT_LABELS.get(key, key)} | {_table_cell(_format_value(value))} |"
                  for key, value in environment.items()]
        lines.append("")
    if data is not None:
        with mkdocs_gen_files.open(f"benchmarks/results/{group}/{json_file.name}", "w") as out:
            out.write(json_file.read_text(encoding="utf-8"))
        lines += [f"All figures: [`{json_file.name}`]({json_file.name}).", ""]

    with mkdocs_gen_files.open(page_path, "w") as out:
        out.write("\n".join(lines))
    source_file = json_file if data is not None else md_file
    mkdocs_gen_files.set_edit_path(page_path, source_file.relative_to(REPO).as_posix())
    return data, lines[2]


def write_results():
    titles, scripts = readme_scripts()
    index = ["# Benchmark results", "",
             "Every file in `benchmarks/results/`, as the benchmark scripts wrote it: the table,",
             "the command that produced it and the environment it ran in. The pages are",
             "generated from those files when the site is built; to change a figure, re-run",
             "its command. What the figures mean is discussed in the [write-ups](../index.md).",
             ""]
    nav = ["* [Results](index.md)"]
    for group in _groups():
        folder = RESULTS / group
        names = sorted({path.stem for path in folder.iterdir() if path.suffix in (".json", ".md")})
        if not names:
            continue
        # Each image goes to the longest result name it starts with, so vae_mnist_x.png is
        # not also shown under a result called vae; one that starts with none goes to the
        # results whose table links it (conditional_presets.md links cvae_mnist_classes.png).
        images = {name: [] for name in names}
        tables = {name: (folder / f"{name}.md").read_text(encoding="utf-8")
                  if (folder / f"{name}.md").is_file() else "" for name in names}
        for image in sorted(folder.glob("*.png")):
            owners = [name for name in names if image.stem.startswith(name)]
            if owners:
                images[max(owners, key=len)].append(image)
            for name in names if not owners else ():
                if f"]({image.name})" in tables[name]:
                    images[name].append(image)

        title = titles.get(group)
        index += [f"## {group}" + (f": {title}" if title else ""), "",
                  "| result | what it holds | date |", "| --- | --- | --- |"]
        nav.append(f"* {group.capitalize()}")
        for name in names:
            script = scripts.get((group, name))
            data, description = write_result_page(group, name, images[name], script)
            environment = data.get("environment") if isinstance(data, dict) else None
            date = str(environment.get("date", ""))[:10] if isinstance(environment, dict) else ""
            measures = _table_cell(description)
            index.append(f"| [{name}]({group}/{name}.md) | {measures} | {date} |")
            nav.append(f"    * [{name}]({group}/{name}.md)")
        index.append("")

    with mkdocs_gen_files.open("benchmarks/results/index.md", "w") as out:
        out.write("\n".join(index))
    write_nav("benchmarks/results", nav)


write_reference()
write_presets()
write_results()
write_copy("CHANGELOG.md", "changelog.md")
write_copy("CONTRIBUTING.md", "contributing.md")
