"""The detector compiler: regexes to byte-class DFAs to matcher tables the filters run.

`regex_syntax` parses the supported subset of Python regex syntax, `nfa` and `dfa` build
automata over UTF-8 bytes, `tables` encodes them (format in README.md beside this file),
`scanner` is the reference implementation of the scanning algorithm the Zig engine runs.
"""
