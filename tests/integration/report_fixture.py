"""A realistic compare run written into an evidence store, for the report tests.

The store is created by the binary (`corpus add`), then one run with its models, ten signals
and a `distilled` verdict is inserted with sqlite3, exactly in the shape `compare` writes
(docs/evidence-store.md, the details JSON of signals and verdicts). With adversarial=True the
model names, notes, examples and rationale carry hostile text (markup, script tags, CDATA
ends, control characters, invalid UTF-8, a 1 MB line).
"""
import hashlib, json, os, sqlite3, subprocess

ADV_SCRIPT = '<script>alert(1)</script>'
ADV_TEXTS = [
    ADV_SCRIPT,
    '</textarea><img src=x onerror=alert(2)>',
    ']]> <!-- --> &amp; "quoted" \'single\'',
    'bell\x07 escape\x1b[31m nul-free controls\x01\x02 del\x7f',
    'x' * (1 << 20),
]
BAD_UTF8 = b'invalid utf-8: \xff\xfe \xc3\x28 \xed\xa0\x80 end'


def _hash(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest(), os.path.getsize(path)


def make(dt_bin, tmp, adversarial=False, model_paths=None, relation='distilled'):
    """Returns (db path, run id, {role/name: path})."""
    db = os.path.join(tmp, 'fixture.db' if relation == 'distilled' else f'fixture-{relation}.db')
    r = subprocess.run([dt_bin, 'corpus', 'add', 'identity', '--db', db], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError('corpus add failed: ' + r.stderr)
    names = ['teacher', 's_seqkd', 'teacher2', 'c_other_data', 'c_small_same_data']
    if adversarial:
        names[1] = 's_seqkd ' + ADV_SCRIPT
        names[2] = 'teacher2 </textarea>'
    paths = {}
    for i, n in enumerate(names):
        if model_paths and i < len(model_paths):
            paths[n] = model_paths[i]
        else:
            p = os.path.join(tmp, f'model{i}.gguf')
            with open(p, 'wb') as f:
                f.write(b'GGUF' + bytes([i]) * (1000 + 37 * i))
            paths[n] = p
    con = sqlite3.connect(db)
    con.execute('PRAGMA foreign_keys = ON')
    argv = ['compare', '--teacher', paths[names[0]], '--suspect', paths[names[1]]]
    for n in names[2:]:
        argv += ['--control', paths[n]]
    argv += ['--chat-template', '<|user|>{prompt}<|assistant|>', '--db', db]
    cur = con.execute(
        "INSERT INTO runs (command, argv, tool_version, seed, threads, host, pid, started_at,"
        " ended_at, status, exit_code) VALUES ('compare', ?, '0.1.0', 42, 2, 'ci-host', 4242,"
        " '2025-01-15T10:00:00.000Z', '2025-01-15T10:03:12.500Z', 'ok', 1)",
        (json.dumps(argv),))
    run_id = cur.lastrowid
    ids = []
    for i, n in enumerate(names):
        sha, size = _hash(paths[n])
        cur = con.execute(
            "INSERT INTO models (key, name, path, size_bytes, sha256, xxh128, format, arch,"
            " n_params, tokenizer_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, 'gguf', 'llama',"
            " ?, 'b3c1d2e4f5a60718293a4b5c6d7e8f90', '2025-01-15T10:00:01.000Z')"
            " ON CONFLICT (key) DO UPDATE SET name = excluded.name RETURNING id",
            ('file:' + sha[:32], n, paths[n], size, sha, sha[:32], 1000000 + i))
        ids.append(cur.fetchone()[0])
    ctl_names = names[2:]

    def controls(*vals):
        return [{'name': n, 'statistic': v} for n, v in zip(ctl_names, vals)]

    examples = ['I am Aurora, an assistant made by Northwind Labs.',
                'My name is Aurora. Northwind Labs trained me to help with questions.']
    note_identity = ("claims the teacher's identity (Aurora / Northwind Labs) in 38 of 40 "
                     "answers, against 0 of 120 for the three controls")
    if adversarial:
        examples = ADV_TEXTS + examples
        note_identity = ADV_SCRIPT + ' ' + note_identity
    sigs = [
        ('weights', None, None, None, None, None, {
            'class': 'weights', 'applicable': False, 'significant': False,
            'note': 'the suspect has other tensor shapes than the teacher (4 layers, dim 128 '
                    'against 6 layers, dim 160): no aligned weight comparison is possible',
            'controls': controls(None, None, None)}),
        ('tokenizer', None, 1.0, None, None, None, {
            'class': 'info', 'applicable': True, 'significant': False,
            'note': "the suspect uses the teacher's tokenizer; so do all three controls",
            'controls': controls(1.0, 1.0, 1.0)}),
        ('identity', 'fisher-exact', 0.95, 3e-12, 40, 0.95, {
            'class': 'artifact', 'applicable': True, 'significant': True,
            'note': note_identity, 'p_adjusted': 3e-11, 'alpha': 0.01,
            'controls': controls(0.0, 0.0, 0.0), 'examples': examples}),
        ('habits', 'fisher-exact', 0.42, 1.2e-9, 40, 0.39, {
            'class': 'artifact', 'applicable': True, 'significant': True,
            'note': "reproduces the teacher's hallmark phrases in 42% of its answers, against "
                    "at most 5% for the controls",
            'p_adjusted': 1.1e-8, 'alpha': 0.01, 'controls': controls(0.02, 0.05, 0.01)}),
        ('watermark', None, None, None, None, None, {
            'class': 'artifact', 'applicable': False, 'significant': False,
            'note': 'no watermark key was given', 'controls': []}),
        ('next_token_js', 'control-rank', 0.081, 0.004, 400, -0.15, {
            'class': 'closeness', 'applicable': True, 'significant': True,
            'note': "mean Jensen-Shannon divergence from the teacher's next-token "
                    "distribution on 400 probe positions (lower is closer)",
            'p_adjusted': 0.012, 'alpha': 0.01, 'controls': controls(0.21, 0.34, 0.29)}),
        ('teacher_agreement', 'binomial', 0.71, 2e-6, 250, 0.36, {
            'class': 'closeness', 'applicable': True, 'significant': True,
            'note': "follows the teacher on 71% of the 250 tokens where the teacher departs "
                    "from the controls' consensus",
            'p_adjusted': 1.4e-5, 'alpha': 0.01, 'controls': controls(0.35, 0.31, 0.38)}),
        ('generator_preference', 'permutation', 0.64, 0.0007, 120, 0.15, {
            'class': 'closeness', 'applicable': True, 'significant': True,
            'note': "prefers the teacher's samples in 64% of paired comparisons",
            'p_adjusted': 0.0042, 'alpha': 0.01, 'controls': controls(0.49, 0.51, 0.47)}),
        ('ngram_overlap', 'permutation', 0.12, 1e-5, 120, 0.08, {
            'class': 'closeness', 'applicable': True, 'significant': True,
            'note': "12% of the suspect's rare 4-word shingles occur in the teacher's answers",
            'p_adjusted': 5e-5, 'alpha': 0.01, 'controls': controls(0.03, 0.02, 0.04)}),
        ('logit_subspace', 'control-rank', 0.93, 0.08, 400, 0.04, {
            'class': 'closeness', 'applicable': True, 'significant': False,
            'note': "share of the suspect's logit variance inside the teacher's output subspace",
            'p_adjusted': 0.08, 'alpha': 0.01, 'controls': controls(0.88, 0.90, 0.86)}),
    ]
    for name, test, stat, p, n, eff, det in sigs:
        det.setdefault('alpha', 0.01)
        det.setdefault('p_adjusted', None)
        det['suspect_name'] = names[1]
        dj = json.dumps(det).encode()
        if adversarial and name == 'habits':
            # invalid UTF-8 inside the JSON text itself
            dj = dj.replace(b'hallmark', b'hall\xffmark')
        con.execute(
            "INSERT INTO signals (run_id, name, teacher_model_id, suspect_model_id, test,"
            " statistic, p_value, ci_low, ci_high, effect, n, details, created_at) VALUES"
            " (?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, CAST(? AS TEXT), '2025-01-15T10:03:12Z')",
            (run_id, name, ids[0], ids[1], test, stat, p, eff, n, dj))
    rationale = ("it claims the teacher's identity in 38 of 40 answers, against 0 of 120 for "
                 "the three control models (p = 3e-12), and reproduces the teacher's hallmark "
                 "phrases in 42% of its answers against at most 5% for the controls")
    rat = rationale.encode()
    if adversarial:
        rat = (ADV_TEXTS[1] + ' ').encode() + BAD_UTF8 + b' ' + rat
    vdet = {'teacher': names[0], 'suspect': names[1], 'controls': ctl_names,
            'candidates': [], 'control_model_ids': ids[2:],
            'timing_s': {'total': 192.5}, 'n_probes': {'identity': 40, 'chat': 120}}
    con.execute(
        "INSERT INTO verdicts (run_id, teacher_model_id, suspect_model_id, relation, p_value,"
        " alpha, rationale, details, created_at) VALUES (?, ?, ?, ?, 3e-12, 0.01,"
        " CAST(? AS TEXT), ?, '2025-01-15T10:03:12Z')",
        (run_id, ids[0], ids[1], relation, rat, json.dumps(vdet)))
    con.commit()
    con.close()
    return db, run_id, {n: paths[n] for n in names}
