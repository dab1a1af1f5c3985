#!/usr/bin/python3
# Converts a SentencePiece unigram model (spiece.model) into the Hugging Face tokenizer.json form
# used for T5/UMT5: Unigram vocab with scores, a Sequence normaliser of Precompiled (the model's
# charsmap) and Replace (runs of spaces), a Metaspace pre-tokeniser, a template appending </s>,
# special tokens listed in added_tokens and <extra_id_*> tokens after the vocab.
# Usage: /usr/bin/python3 spm-to-json.py MODEL OUT.json [N_EXTRA_IDS]
import base64
import json
import sys

from sentencepiece import sentencepiece_model_pb2 as pb

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def added(i, content, special):
    return {'id': i, 'content': content, 'single_word': False, 'lstrip': False, 'rstrip': False,
            'normalized': not special, 'special': special}


def main():
    model_path, out_path = sys.argv[1], sys.argv[2]
    n_extra = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    m = pb.ModelProto()
    with open(model_path, 'rb') as f:
        m.ParseFromString(f.read())
    assert m.trainer_spec.model_type == pb.TrainerSpec.UNIGRAM
    ns = m.normalizer_spec
    vocab, added_tokens, unk_id, eos = [], [], None, None
    for i, p in enumerate(m.pieces):
        vocab.append([p.piece, p.score])
        if p.type == UNKNOWN:
            unk_id = i
        if p.type in (UNKNOWN, CONTROL):
            added_tokens.append(added(i, p.piece, True))
        elif p.type == USER_DEFINED:
            added_tokens.append(added(i, p.piece, False))
        if p.piece == '</s>' and p.type == CONTROL:
            eos = i
    for k in range(n_extra - 1, -1, -1):
        added_tokens.append(added(len(vocab), '<extra_id_%d>' % k, True))
        vocab.append(['<extra_id_%d>' % k, 0.0])
    normalizers = []
    if ns.precompiled_charsmap:
        normalizers.append({'type': 'Precompiled',
                            'precompiled_charsmap': base64.b64encode(ns.precompiled_charsmap).decode('ascii')})
    if ns.remove_extra_whitespaces:
        normalizers.append({'type': 'Replace', 'pattern': {'Regex': ' {2,}'}, 'content': ' '})
    scheme = 'always' if ns.add_dummy_prefix else 'never'
    metaspace = {'type': 'Metaspace', 'replacement': '\u2581', 'prepend_scheme': scheme, 'split': True}
    single = [{'Sequence': {'id': 'A', 'type_id': 0}}]
    special = {}
    if eos is not None:
        single.append({'SpecialToken': {'id': '</s>', 'type_id': 0}})
        special['</s>'] = {'id': '</s>', 'ids': [eos], 'tokens': ['</s>']}
    doc = {
        'version': '1.0',
        'truncation': None,
        'padding': None,
        'added_tokens': added_tokens,
        'normalizer': {'type': 'Sequence', 'normalizers': normalizers},
        'pre_tokenizer': metaspace,
        'post_processor': {'type': 'TemplateProcessing', 'single': single,
                           'pair': single[:1] + [{'Sequence': {'id': 'B', 'type_id': 1}}] + single[1:],
                           'special_tokens': special},
        'decoder': dict(metaspace),
        'model': {'type': 'Unigram', 'unk_id': unk_id, 'vocab': vocab,
                  'byte_fallback': bool(m.trainer_spec.byte_fallback)},
    }
    with open(out_path, 'w', encoding='utf-8') as f:
        json.dump(doc, f, ensure_ascii=False, indent=2)


if __name__ == '__main__':
    main()
