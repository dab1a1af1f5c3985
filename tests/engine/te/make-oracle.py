#!/usr/bin/python3
# Makes the tokenizer oracle data in tests/engine/te/data/ from seed.txt:
#   train.txt      training text (seed lines, recombined fragments, noise)
#   heldout.txt    1,186 lines never seen in training (other seed, more noise, edge cases)
#   spm-*.model    small unigram models trained by Debian's spm_train (nmt_nfkc)
#   spm-*.ids      what spm_encode --output_format=id gives for heldout.txt
# Run: /usr/bin/python3 tests/engine/te/make-oracle.py [--out DIR]   (DIR defaults to data/; the
# test suite runs it into a temporary folder). The committed data/ keeps seed.txt, heldout.txt and
# spm-b.model + spm-b.ids; the rest is made again at test time.
import os
import random
import subprocess
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, 'data')

# name -> extra spm_train flags; all are unigram with the nmt_nfkc rule.
MODELS = {
    'spm-a': ['--vocab_size=800', '--character_coverage=0.995'],
    'spm-b': ['--vocab_size=1200', '--character_coverage=0.98', '--byte_fallback=true',
              '--user_defined_symbols=<sep>,[MASK],℃', '--control_symbols=<ctl>'],
    'spm-c': ['--vocab_size=1500', '--character_coverage=0.9995', '--add_dummy_prefix=false',
              '--remove_extra_whitespaces=false', '--pad_id=3', '--unk_id=0', '--bos_id=-1', '--eos_id=1'],
}

NOISE = ['\x01', '\x07', '\x1b[31m', '\x7f', '\u0085', '\u200b', '\ufeff', '\u00a0', '\u3000',
         '\u2028', '\t', '  ', '    ', '\u202f', '\x0b', '\x0c']
RARE = [(0x3400, 0x4dbf), (0xa000, 0xa48c), (0x1f300, 0x1f5ff), (0x0400, 0x04ff), (0x0e00, 0x0e7f),
        (0x2190, 0x21ff), (0xff01, 0xff5e), (0xff61, 0xff9f), (0x1d400, 0x1d7ff), (0x0300, 0x036f),
        (0xac00, 0xd7a3), (0x4e00, 0x9fff), (0x3040, 0x30ff), (0x2460, 0x24ff), (0xf900, 0xfaff)]


def fragments(lines):
    out = []
    for line in lines:
        words = line.split(' ')
        for i in range(0, len(words), 3):
            out.append(' '.join(words[i:i + 3]))
        if ' ' not in line:
            out.extend(line[i:i + 6] for i in range(0, len(line), 6))
    return [f for f in out if f]


def rare_char(rng):
    lo, hi = rng.choice(RARE)
    return chr(rng.randint(lo, hi))


def noisy_line(rng, frags, seed_lines, level):
    kind = rng.random()
    if kind < 0.15:
        s = rng.choice(seed_lines)
    else:
        s = ' '.join(rng.choice(frags) for _ in range(rng.randint(1, 6)))
    out = []
    for ch in s:
        r = rng.random()
        if r < 0.02 * level:
            out.append(rng.choice(NOISE))
        elif r < 0.035 * level:
            out.append(rare_char(rng))
        elif r < 0.04 * level and ch.isascii() and ch.isalnum():
            out.append(chr(ord(ch) + 0xfee0))   # full-width form
        out.append(ch)
    s = ''.join(out)
    if rng.random() < 0.1 * level:
        s = unicodedata.normalize('NFD', s)
    if rng.random() < 0.1 * level:
        s = ' ' * rng.randint(1, 4) + s + ' ' * rng.randint(0, 3)
    return s.replace('\n', ' ').replace('\r', ' ').replace('\0', ' ')


def main():
    out = DATA
    if len(sys.argv) == 3 and sys.argv[1] == '--out':
        out = sys.argv[2]
    with open(os.path.join(DATA, 'seed.txt'), encoding='utf-8') as f:
        seed_lines = [l.rstrip('\n') for l in f if l.strip()]
    frags = fragments(seed_lines)
    rng = random.Random(20261122)
    train = list(seed_lines) * 3 + [noisy_line(rng, frags, seed_lines, 0.5) for _ in range(3000)]
    train_set = set(train)
    rng = random.Random(77)
    heldout = []
    while len(heldout) < 1150:
        line = noisy_line(rng, frags, seed_lines, 1.5)
        if line not in train_set:
            heldout.append(line)
    # Edge cases, kept verbatim.
    heldout += ['', ' ', '   ', '\t', 'a', '\u2581', '\u2581\u2581x', '<sep>', '[MASK][MASK]', '<ctl>', '</s>',
                '<unk>', '℃℃', '\U0001f98a' * 5, '\u3400\u3401\u3402 x \u3403', 'x' * 300,
                'ab' + '\u0301' * 5, '\ufffd', '\x7f\x7f', 'a  b   c    d', ' leading', 'trailing ',
                '\u3000全角\u3000スペース\u3000', '１２３４５', 'ＡＢＣ　ｄｅｆ', '①②③', '㍻㍼㍽㍾', 'ﬁﬂﬀﬃ',
                '\u00a0nbsp\u00a0', 'tab\tsep', 'mixed\x01control\x02chars', '\U0001d400\U0001d401',
                '😀😃😄😁😆😅😂🤣', '👨‍👩‍👧‍👦', 'é'.join(['e\u0301'] * 3), 'Ω≈ç√∫˜µ≤≥÷']
    with open(os.path.join(out, 'train.txt'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(train) + '\n')
    with open(os.path.join(out, 'heldout.txt'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(heldout) + '\n')
    assert not any(l in train_set for l in heldout if len(l) > 12), 'held-out line seen in training'
    for name, flags in MODELS.items():
        prefix = os.path.join(out, name)
        subprocess.run(['spm_train', '--input=' + os.path.join(out, 'train.txt'), '--model_prefix=' + prefix,
                        '--model_type=unigram', '--normalization_rule_name=nmt_nfkc', '--num_threads=1',
                        '--input_sentence_size=0', '--minloglevel=2'] + flags,
                       check=True, stderr=subprocess.DEVNULL)
        os.remove(prefix + '.vocab')
        with open(os.path.join(out, 'heldout.txt'), 'rb') as fin, open(prefix + '.ids', 'wb') as fout:
            subprocess.run(['spm_encode', '--model=' + prefix + '.model', '--output_format=id'],
                           stdin=fin, stdout=fout, check=True)
    print('wrote %d training and %d held-out lines, models %s' % (len(train), len(heldout), ', '.join(MODELS)),
          file=sys.stderr)


if __name__ == '__main__':
    main()
