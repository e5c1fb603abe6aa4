# Two commands do all the set-up on a fresh machine (see README.md):
#   make demo   — create .venv, install xinbao, run the main job
#   make test   — create .venv, install xinbao with its test extra, lint and run the tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench faults lint system preview clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "xinbao needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/xinbao demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# programs some tests drive for real (OpenSSH's sshd and ssh, tmux, systemd-analyze, LibreOffice
# rendering the exported documents with the Noto CJK fonts, pdftoppm for make preview):
# installed from Debian's packages when missing and we may (CI runs as root on a fresh machine);
# a test that needs one fails without it, it is never skipped
SYSTEM_PROGRAMS := /usr/sbin/sshd:openssh-server /usr/bin/ssh:openssh-client /usr/bin/tmux:tmux /usr/bin/systemd-analyze:systemd /usr/bin/soffice:libreoffice-writer-nogui /usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc:fonts-noto-cjk /usr/bin/pdftoppm:poppler-utils

system:
	@missing="$(foreach p,$(SYSTEM_PROGRAMS),$(if $(wildcard $(word 1,$(subst :, ,$(p)))),,$(word 2,$(subst :, ,$(p)))))"; \
	if [ -n "$$(echo $$missing)" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
		else \
			echo "missing system packages (install them as root): $$missing" >&2; exit 1; \
		fi; \
	fi

test: lint system
	$(BIN)/python -m pytest -n 2

bench: $(STAMP)
	$(BIN)/python tests/bench/bench_store.py
	$(BIN)/python tests/bench/bench_bundle.py
	$(BIN)/python -m tests.bench.bench_daemon
	$(BIN)/python tests/bench/bench_similar.py
	$(BIN)/python tests/bench/bench_start.py
	$(BIN)/python -m tests.bench.bench_idle
	$(BIN)/python -m tests.bench.bench_show
	$(BIN)/python -m tests.bench.bench_down
	$(BIN)/python -m tests.bench.bench_hybrid
	$(BIN)/python tests/bench/sim_national.py

# the exported documents (a 信息刊物, a 通报) as .docx, PDF (LibreOffice) and PNGs of their
# first pages (pdftoppm), for people to look at
preview: $(STAMP) system
	$(BIN)/python -m tests.render .cache/preview

# a fault campaign on a five-tier chain (by hand, several minutes): >= 1,000 faults, then the
# counts (lost, doubled, receipts missing, settle time); SEED=n replays a schedule
faults: $(STAMP)
	$(BIN)/python -m tests.faults.campaign --faults 1000 --max-seconds 600 $(if $(SEED),--seed $(SEED))

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
