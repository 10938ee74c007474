"""Fail if `nbdev_export` or `nbdev_clean` would change anything: fdl/ must be the notebooks' export, notebooks clean."""
import hashlib, os, subprocess, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
bin_dir = Path(sys.executable).parent

def snapshot(folder, pattern):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root/folder).rglob(pattern)) if '.ipynb_checkpoints' not in p.parts}

def changed(before, after):
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))

def run(tool):
    subprocess.run([str(bin_dir/tool)], cwd=root, check=True)

def main():
    problems = []
    before = snapshot('fdl', '*.py')
    run('nbdev_export')
    if diff := changed(before, snapshot('fdl', '*.py')):
        problems.append('fdl/ did not match the notebooks; nbdev_export rewrote: ' + ', '.join(diff)
                        + '\n  -> edit notebooks, never fdl/; run `nbdev_export` and commit nbs/ and fdl/ together.')
    before = snapshot('nbs', '*.ipynb')
    run('nbdev_clean')
    if diff := changed(before, snapshot('nbs', '*.ipynb')):
        problems.append('notebooks were not clean; nbdev_clean rewrote: ' + ', '.join(diff)
                        + '\n  -> run `nbdev_clean` and commit the notebooks.')
    if os.environ.get('CI'):
        git = subprocess.run(['git', 'status', '--porcelain', '--', 'fdl', 'nbs'], cwd=root, capture_output=True, text=True)
        status = git.stdout.strip()
        if git.returncode != 0:
            problems.append(f'`git status` failed, so uncommitted files cannot be ruled out: {git.stderr.strip()}')
        elif status and not problems:
            problems.append('git sees uncommitted or untracked files in fdl/ or nbs/:\n' + status
                            + '\n  -> run `nbdev_export` and `nbdev_clean`, then commit both.')
    for p in problems: print('ERROR:', p, file=sys.stderr)
    if not problems: print('fdl/ is in sync with nbs/, and every notebook is clean')
    return 1 if problems else 0

if __name__ == '__main__': sys.exit(main())
