"""The HTML report in a real headless Chromium (Debian `chromium`): it renders to a screenshot
that is not blank and shows the verdict box in its colour, and prints to a PDF. Network is
off for the browser (no background networking, QUIC, sync or component updates), so a page
that needed anything from outside would show it. Skips (77) when chromium is not installed."""
import os, shutil, struct, sys, tempfile, zlib

sys.path.insert(0, os.path.dirname(__file__))
from dtest import DT, check, done, run, skip_all, tmpdir  # noqa: E402
import report_fixture  # noqa: E402

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--disable-dev-shm-usage', '--hide-scrollbars']


def png_pixels(path):
    """Decodes an 8-bit RGB/RGBA non-interlaced PNG: (width, height, channels, rows)."""
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
    pos, idat, w = 8, b'', 0
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b'IHDR':
            w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, 'unsupported PNG'
            ch = 3 if ctype == 2 else 4
        elif kind == b'IDAT':
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * ch
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - ch] if i >= ch else 0
            b = prev[i]
            c = prev[i - ch] if i >= ch else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, ch, rows


def main():
    if not CHROMIUM:
        skip_all('chromium is not installed (apt-get install chromium)')
    tmp = tmpdir()
    db, _, _ = report_fixture.make(DT, tmp)
    html = os.path.join(tmp, 'report.html')
    r = run([DT, 'report', 'latest', '--db', db, '--format', 'html', '-o', html])
    check(r.returncode == 0, 'report rendered', r.stderr)
    profile = tempfile.mkdtemp(prefix='dt_chromium_')
    png = os.path.join(tmp, 'report.png')
    pdf = os.path.join(tmp, 'report.pdf')
    r = run([CHROMIUM] + FLAGS + [f'--user-data-dir={profile}', f'--screenshot={png}',
                                  '--window-size=1200,2000', 'file://' + html], timeout=180)
    check(r.returncode == 0 and os.path.exists(png) and os.path.getsize(png) > 20_000,
          'chromium takes a screenshot', r.stderr[-2000:])
    if os.path.exists(png):
        w, h, ch, rows = png_pixels(png)
        check((w, h) == (1200, 2000), 'screenshot size', (w, h))
        # look at it: mostly white page with text, the verdict box's red border at the top
        nonwhite = sum(1 for row in rows[::8] for i in range(0, w * ch, ch * 8)
                       if row[i] < 235 or row[i + 1] < 235 or row[i + 2] < 235)
        total = len(rows[::8]) * len(range(0, w * ch, ch * 8))
        check(0.03 < nonwhite / total < 0.6, 'screenshot has content, not blank',
              nonwhite / total)
        red = 0
        for row in rows[60:420]:
            for i in range(0, w * ch, ch):
                if abs(row[i] - 0xb4) < 12 and abs(row[i + 1] - 0x23) < 12 and abs(row[i + 2] - 0x18) < 12:
                    red += 1
        check(red > 500, 'verdict box drawn in the "derived" red near the top', red)
    r = run([CHROMIUM] + FLAGS + [f'--user-data-dir={profile}', f'--print-to-pdf={pdf}',
                                  '--no-pdf-header-footer', 'file://' + html], timeout=180)
    ok = os.path.exists(pdf) and os.path.getsize(pdf) > 10_000
    if ok:
        with open(pdf, 'rb') as f:
            ok = f.read(5) == b'%PDF-'
    check(r.returncode == 0 and ok, 'chromium prints it to PDF', r.stderr[-2000:])
    if ok and shutil.which('pdftotext'):
        t = run(['pdftotext', '-layout', pdf, '-'])
        pages = t.stdout.split('\f')
        pages = [p for p in pages if p.strip()]
        n = len(pages)
        check(n >= 2 and all(f'page {i + 1} of {n}' in pages[i] for i in range(n)) and
              all('run ' in p for p in pages),
              'every printed page has its number and the run in the footer', n)
        # no page is mostly empty: at most the last is short
        short = [i for i, p in enumerate(pages[:-1]) if len(p.strip().splitlines()) < 25]
        check(not short, 'no half-empty printed page (but the last)', short)
    # a phone-sized window: the page does not overflow sideways (tables scroll in their box)
    narrow = os.path.join(tmp, 'narrow.png')
    r = run([CHROMIUM] + FLAGS + [f'--user-data-dir={profile}', f'--screenshot={narrow}',
                                  '--window-size=420,1600', 'file://' + html], timeout=180)
    if check(r.returncode == 0 and os.path.exists(narrow), 'screenshot at 420 px', r.stderr[-500:]):
        w, h, ch, rows = png_pixels(narrow)
        # the verdict box's red left border sits at the left margin: the layout reflowed
        left_red = sum(1 for row in rows[40:400] for i in range(0, 60 * ch, ch)
                       if abs(row[i] - 0xb4) < 12 and abs(row[i + 1] - 0x23) < 12 and
                       abs(row[i + 2] - 0x18) < 12)
        check(w == 420 and left_red > 200, 'the report reflows to 420 px', left_red)
    shutil.rmtree(profile, ignore_errors=True)
    done()


main()
