"""Gaps found by mutation testing (tools/mutation_test.py, docs/mutation.md) in the GeneralPoints checkers.

Each table pins what a model or a trainer sees for a reply: the verdict, the reward, the exact feedback and what
was read (formula, exact value, numbers used, card recognition). The feedback is part of the contract: a model is
meant to act on it, so a changed or garbled message is a behaviour change these tests catch.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from gpoints_env.checker import (
    BINARY_REWARDS,
    MAX_FORMULA_CHARS,
    FormulaError,
    build_expression,
    check_answer,
    extract_formula,
    format_number,
    formula_to_sympy,
    grade_reply,
    parse_formula,
)
from gpoints_env.paper_checker import PAPER_MAX_FORMULA_CHARS, paper_grade, paper_read_field
from gpoints_env.rules import ID_RULES, Rules

HAND = [8, 3, 8, 3]
RANKS = ["8", "3", "8", "3"]

CHECK_CASES = [
    ('{"formula": [1, 2]}', 'illegal_formula', -3.0, 'Illegal formula: the formula must be a string such as "(1+2)*3", not a list.', None, None, None),
    ('{"formula": {"a": 1}}', 'illegal_formula', -3.0, 'Illegal formula: the formula must be a string such as "(1+2)*3", not an object.', None, None, None),
    ('{"formula": true}', 'illegal_formula', -3.0, 'Illegal formula: the formula must be a string such as "(1+2)*3", not a boolean.', None, None, None),
    ('{"formula": 3}', 'illegal_formula', -3.0, 'Illegal formula: the formula must be a string such as "(1+2)*3", not a number.', None, None, None),
    ('{"formula": 2.5}', 'illegal_formula', -3.0, 'Illegal formula: the formula must be a string such as "(1+2)*3", not a number.', None, None, None),
    ('{"formula": null}', 'illegal_formula', -3.0, 'Illegal formula: the formula must be a string such as "(1+2)*3", not null.', None, None, None),
    ('{"formula": ""}', 'no_formula', -3.0, 'No formula found: the formula field is empty. Answer with JSON such as {"formula": "<your formula>"}.', None, None, None),
    ('{"formula": "  ** "}', 'no_formula', -3.0, 'No formula found: the formula field is empty. Answer with JSON such as {"formula": "<your formula>"}.', None, None, None),
    ('no numbers here', 'no_formula', -3.0, 'No formula found: neither a "formula" field nor an arithmetic expression in the reply. Answer with JSON such as {"formula": "<your formula>"}.', None, None, None),
    ('**(8/(3-8/3))**', 'correct', 5.0, 'Correct: (8/(3-8/3)) = 24.', '(8/(3-8/3))', Fraction(24, 1), (8, 3, 8, 3)),
    ('*8/(3-8/3)*', 'correct', 5.0, 'Correct: 8/(3-8/3) = 24.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3)),
    ('so **8/(3-8/3)**.', 'correct', 5.0, 'Correct: 8/(3-8/3) = 24.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3)),
    ('(8*3*8/8) **', 'illegal_formula', -3.0, "Illegal formula: '**' (power) is not allowed; use only + - * / and parentheses.", None, None, None),
    ('N*(8/(3-8/3))', 'correct', 5.0, 'Correct: (8/(3-8/3)) = 24.', '(8/(3-8/3))', Fraction(24, 1), (8, 3, 8, 3)),
    ('8/(3-8/3)*', 'illegal_formula', -3.0, 'Illegal formula: the formula ends with an operator or an open parenthesis.', None, None, None),
    ('x*8/(3-8/3)*', 'illegal_formula', -3.0, 'Illegal formula: the formula ends with an operator or an open parenthesis.', None, None, None),
    (': *8/(3-8/3)*', 'correct', 5.0, 'Correct: 8/(3-8/3) = 24.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3)),
    ('***8/(3-8/3)***', 'correct', 5.0, 'Correct: 8/(3-8/3) = 24.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3)),
    ('a ****8/(3-8/3)', 'correct', 5.0, 'Correct: 8/(3-8/3) = 24.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3)),
    ('_8/(3-8/3)_', 'correct', 5.0, 'Correct: 8/(3-8/3) = 24.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3)),
    ('`8/(3-8/3)`.', 'correct', 5.0, 'Correct: 8/(3-8/3) = 24.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3)),
    ('$8/(3-8/3)$;', 'correct', 5.0, 'Correct: 8/(3-8/3) = 24.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3)),
    ('{"formula": "**8/(3-8/3)**"}', 'correct', 5.0, 'Correct: 8/(3-8/3) = 24.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3)),
    ('{"formula": "8/(3-8/3) * "}', 'illegal_formula', -3.0, 'Illegal formula: the formula ends with an operator or an open parenthesis.', None, None, None),
    ('8 \\times 3 \\div 3 \\cdot 3', 'wrong_numbers', -2.0, 'Your formula uses the numbers [8, 3, 3, 3] but the cards give [8, 3, 8, 3]; each card must be used exactly once (not used: 8; used too often: 3).', '8*3/3*3', None, (8, 3, 3, 3)),
    ('\\left(8+8\\right)*3/3', 'wrong_value', -1.0, 'Your formula (8+8)*3/3 evaluates to 16, not 24.', '(8+8)*3/3', Fraction(16, 1), (8, 8, 3, 3)),
    ('{"formula": "8 \\\\div (3 - 8 \\\\div 3)"}', 'correct', 5.0, 'Correct: 8/(3-8/3) = 24.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3)),
    ('{"formula": "24 = 24"}', 'wrong_numbers', -2.0, 'Your formula uses the numbers [24] but the cards give [8, 3, 8, 3]; each card must be used exactly once (not used: 3, 3, 8, 8; not on the cards: 24).', '24', None, (24,)),
    ('{"formula": "= 24"}', 'wrong_numbers', -2.0, 'Your formula uses the numbers [24] but the cards give [8, 3, 8, 3]; each card must be used exactly once (not used: 3, 3, 8, 8; not on the cards: 24).', '24', None, (24,)),
    ('{"formula": "=="}', 'illegal_formula', -3.0, 'Illegal formula: the formula is empty.', None, None, None),
    ('{"formula": "8*3 == 24 = 8*3"}', 'wrong_numbers', -2.0, 'Your formula uses the numbers [8, 3] but the cards give [8, 3, 8, 3]; each card must be used exactly once (not used: 3, 8).', '8*3', None, (8, 3)),
    ('{"formula": "8^3+8-3"}', 'illegal_formula', -3.0, "Illegal formula: unexpected character '^' at position 2 ('^' is not allowed: no powers); use only integers, + - * / and parentheses.", None, None, None),
    ('{"formula": "8**3+8-3"}', 'illegal_formula', -3.0, "Illegal formula: '**' (power) is not allowed; use only + - * / and parentheses.", None, None, None),
    ('{"formula": "8//3+8-3"}', 'illegal_formula', -3.0, "Illegal formula: '//' is not an operator; use '/' for exact division.", None, None, None),
    ('{"formula": "8%3+8-3"}', 'illegal_formula', -3.0, "Illegal formula: unexpected character '%' at position 2; use only integers, + - * / and parentheses.", None, None, None),
    ('{"formula": "8.5+3+8+3"}', 'illegal_formula', -3.0, 'Illegal formula: decimal numbers are not allowed; write the card values as integers.', None, None, None),
    ('{"formula": "8+3.+8+3"}', 'illegal_formula', -3.0, "Illegal formula: unexpected character '.' at position 4; use only integers, + - * / and parentheses.", None, None, None),
    ('{"formula": "8+J+8+3"}', 'illegal_formula', -3.0, "Illegal formula: unexpected letter 'J' at position 3: write card values as numbers (e.g. 10 rather than J) and use only + - * / and parentheses.", None, None, None),
    ('{"formula": "3+8+x+8"}', 'illegal_formula', -3.0, "Illegal formula: unexpected letter 'x' at position 5: write card values as numbers (e.g. 10 rather than J) and use only + - * / and parentheses.", None, None, None),
    ('{"formula": "<expr>+8"}', 'illegal_formula', -3.0, "Illegal formula: unexpected character '<' at position 1 (write your formula in place of the example's placeholder); use only integers, + - * / and parentheses.", None, None, None),
    ('{"formula": "<8+3+8+3"}', 'illegal_formula', -3.0, "Illegal formula: unexpected character '<' at position 1; use only integers, + - * / and parentheses.", None, None, None),
    ('{"formula": "8+3+8+3>"}', 'illegal_formula', -3.0, "Illegal formula: unexpected character '>' at position 8; use only integers, + - * / and parentheses.", None, None, None),
    ('{"formula": "8+3+8+3 @"}', 'illegal_formula', -3.0, "Illegal formula: unexpected character '@' at position 9; use only integers, + - * / and parentheses.", None, None, None),
    ('{"formula": "8+3+8+3 #"}', 'illegal_formula', -3.0, "Illegal formula: unexpected character '#' at position 9; use only integers, + - * / and parentheses.", None, None, None),
    ('{"formula": "()"}', 'illegal_formula', -3.0, "Illegal formula: empty parentheses or an operator right before ')'.", None, None, None),
    ('{"formula": "(8+3"}', 'illegal_formula', -3.0, "Illegal formula: unbalanced parentheses: a '(' is never closed.", None, None, None),
    ('{"formula": "8+3)"}', 'illegal_formula', -3.0, "Illegal formula: unbalanced parentheses: a ')' has no matching '('.", None, None, None),
    ('{"formula": "8 3"}', 'illegal_formula', -3.0, "Illegal formula: missing operator before '3' (implicit multiplication is not allowed; use '*').", None, None, None),
    ('{"formula": "8+"}', 'illegal_formula', -3.0, 'Illegal formula: the formula ends with an operator or an open parenthesis.', None, None, None),
    ('{"formula": "-8+3+8+3"}', 'illegal_formula', -3.0, "Illegal formula: unary minus is not allowed: every '-' must subtract one expression from another.", None, None, None),
    ('{"formula": "*8+3"}', 'wrong_numbers', -2.0, 'Your formula uses the numbers [8, 3] but the cards give [8, 3, 8, 3]; each card must be used exactly once (not used: 3, 8).', '8+3', None, (8, 3)),
    ('{"formula": "(8+3)(8+3)"}', 'illegal_formula', -3.0, "Illegal formula: missing operator before '(' (implicit multiplication is not allowed; use '*').", None, None, None),
    ('{"formula": "8+(3)+((8))+3"}', 'wrong_value', -1.0, 'Your formula 8+(3)+((8))+3 evaluates to 22, not 24.', '8+(3)+((8))+3', Fraction(22, 1), (8, 3, 8, 3)),
    ('{"formula": "(((((((((((((((((((((((((((((((((8)))))))))))))))))))))))))))))))))"}', 'illegal_formula', -3.0, 'Illegal formula: parentheses nested deeper than 32 levels.', None, None, None),
    ('{"formula": "((((((((((((((((((((((((((((((((8))))))))))))))))))))))))))))))))+3+8+3"}', 'wrong_value', -1.0, 'Your formula ((((((((((((((((((((((((((((((((8))))))))))))))))))))))))))))))))+3+8+3 evaluates to 22, not 24.', '((((((((((((((((((((((((((((((((8))))))))))))))))))))))))))))))))+3+8+3', Fraction(22, 1), (8, 3, 8, 3)),
    ('{"formula": "((8))+((3))+((8))+((3))"}', 'wrong_value', -1.0, 'Your formula ((8))+((3))+((8))+((3)) evaluates to 22, not 24.', '((8))+((3))+((8))+((3))', Fraction(22, 1), (8, 3, 8, 3)),
    ('{"formula": "8/(3-3)+8"}', 'division_by_zero', -3.0, 'Your formula 8/(3-3)+8 divides by zero.', '8/(3-3)+8', None, (8, 3, 3, 8)),
    ('{"formula": "8/(8-8)*3*3"}', 'wrong_numbers', -2.0, 'Your formula uses the numbers [8, 8, 8, 3, 3] but the cards give [8, 3, 8, 3]; each card must be used exactly once (used too often: 8).', '8/(8-8)*3*3', None, (8, 8, 8, 3, 3)),
    ('{"formula": "8*3+8-3"}', 'wrong_value', -1.0, 'Your formula 8*3+8-3 evaluates to 29, not 24.', '8*3+8-3', Fraction(29, 1), (8, 3, 8, 3)),
    ('{"formula": "8*3/8*3"}', 'wrong_value', -1.0, 'Your formula 8*3/8*3 evaluates to 9, not 24.', '8*3/8*3', Fraction(9, 1), (8, 3, 8, 3)),
    ('{"formula": "8/3*8/3"}', 'wrong_value', -1.0, 'Your formula 8/3*8/3 evaluates to 64/9, not 24.', '8/3*8/3', Fraction(64, 9), (8, 3, 8, 3)),
    ('{"formula": "8+8+3+3"}', 'wrong_value', -1.0, 'Your formula 8+8+3+3 evaluates to 22, not 24.', '8+8+3+3', Fraction(22, 1), (8, 8, 3, 3)),
    ('{"formula": "8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8"}', 'wrong_numbers', -2.0, 'Your formula uses the numbers [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, ...] but the cards give [8, 3, 8, 3]; each card must be used exactly once (not used: 3, 3; used too often: 8).', '8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8*8', None, (8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8)),
    ('{"formula": "8+3+8"}', 'wrong_numbers', -2.0, 'Your formula uses the numbers [8, 3, 8] but the cards give [8, 3, 8, 3]; each card must be used exactly once (not used: 3).', '8+3+8', None, (8, 3, 8)),
    ('{"formula": "8+3+8+3+3"}', 'wrong_numbers', -2.0, 'Your formula uses the numbers [8, 3, 8, 3, 3] but the cards give [8, 3, 8, 3]; each card must be used exactly once (used too often: 3).', '8+3+8+3+3', None, (8, 3, 8, 3, 3)),
    ('{"formula": "8+3+8+4"}', 'wrong_numbers', -2.0, 'Your formula uses the numbers [8, 3, 8, 4] but the cards give [8, 3, 8, 3]; each card must be used exactly once (not used: 3; not on the cards: 4).', '8+3+8+4', None, (8, 3, 8, 4)),
    ('{"formula": "8+8+8+3+3+3"}', 'wrong_numbers', -2.0, 'Your formula uses the numbers [8, 8, 8, 3, 3, 3] but the cards give [8, 3, 8, 3]; each card must be used exactly once (used too often: 3, 8).', '8+8+8+3+3+3', None, (8, 8, 8, 3, 3, 3)),
    ('{"formula": "1+2+4+5+6+7+9+10+11+12+13+14+15+16"}', 'wrong_numbers', -2.0, 'Your formula uses the numbers [1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, ...] but the cards give [8, 3, 8, 3]; each card must be used exactly once (not used: 3, 3, 8, 8; not on the cards: 1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, ...).', '1+2+4+5+6+7+9+10+11+12+13+14+15+16', None, (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16)),
    ('{"formula": "8+3+8+3+8+3+8+3+8+3+8+3+8+3+8"}', 'wrong_numbers', -2.0, 'Your formula uses the numbers [8, 3, 8, 3, 8, 3, 8, 3, 8, 3, 8, 3, ...] but the cards give [8, 3, 8, 3]; each card must be used exactly once (used too often: 3, 8).', '8+3+8+3+8+3+8+3+8+3+8+3+8+3+8', None, (8, 3, 8, 3, 8, 3, 8, 3, 8, 3, 8, 3, 8, 3, 8)),
    ('{"formula": "8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8"}', 'wrong_numbers', -2.0, 'Your formula uses the numbers [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, ...] but the cards give [8, 3, 8, 3]; each card must be used exactly once (not used: 3, 3; used too often: 8).', '8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8+8', None, (8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8)),
    ('{"formula": "(8)+((((((((((((((((((((((((((((((((3))))))))))))))))))))))))))))))))+8+3"}', 'wrong_value', -1.0, 'Your formula (8)+((((((((((((((((((((((((((((((((3))))))))))))))))))))))))))))))))+8+3 evaluates to 22, not 24.', '(8)+((((((((((((((((((((((((((((((((3))))))))))))))))))))))))))))))))+8+3', Fraction(22, 1), (8, 3, 8, 3)),
    ('{"formula": "(8)+(((((((((((((((((((((((((((((((((3)))))))))))))))))))))))))))))))))+8+3"}', 'illegal_formula', -3.0, 'Illegal formula: parentheses nested deeper than 32 levels.', None, None, None),
    ('{"formula": "(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)"}', 'wrong_numbers', -2.0, 'Your formula uses the numbers [8, 3, 8, 3, 8, 3, 8, 3, 8, 3, 8, 3, ...] but the cards give [8, 3, 8, 3]; each card must be used exactly once (used too often: 3, 8).', '(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)+(8)+(3)', None, (8, 3, 8, 3, 8, 3, 8, 3, 8, 3, 8, 3, 8, 3, 8, 3, 8, 3, 8, 3, 8, 3, 8, 3, 8, 3, 8, 3, 8, 3, 8, 3, 8, 3, 8, 3)),
    ('{"formula": "20+21+22+23+24+25+26+27+28+29+30+31"}', 'wrong_numbers', -2.0, 'Your formula uses the numbers [20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31] but the cards give [8, 3, 8, 3]; each card must be used exactly once (not used: 3, 3, 8, 8; not on the cards: 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31).', '20+21+22+23+24+25+26+27+28+29+30+31', None, (20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31)),
    ('{"formula": "20+21+22+23+24+25+26+27+28+29+30+31+32"}', 'wrong_numbers', -2.0, 'Your formula uses the numbers [20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, ...] but the cards give [8, 3, 8, 3]; each card must be used exactly once (not used: 3, 3, 8, 8; not on the cards: 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, ...).', '20+21+22+23+24+25+26+27+28+29+30+31+32', None, (20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32)),
    ('{"formula": "8+8+8+8+8+8+8+8+8+8+8+8"}', 'wrong_numbers', -2.0, 'Your formula uses the numbers [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8] but the cards give [8, 3, 8, 3]; each card must be used exactly once (not used: 3, 3; used too often: 8).', '8+8+8+8+8+8+8+8+8+8+8+8', None, (8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8)),
    ('{"formula": "8+8+8+8+8+8+8+8+8+8+8+8+8"}', 'wrong_numbers', -2.0, 'Your formula uses the numbers [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, ...] but the cards give [8, 3, 8, 3]; each card must be used exactly once (not used: 3, 3; used too often: 8).', '8+8+8+8+8+8+8+8+8+8+8+8+8', None, (8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8)),
]

EXTRACT_CASES = [
    ('{"formula": [1, 2]}', None, 'key', 'the formula must be a string such as "(1+2)*3", not a list', True),
    ('{"formula": {"a": 1}}', None, 'key', 'the formula must be a string such as "(1+2)*3", not an object', True),
    ('{"formula": true}', None, 'key', 'the formula must be a string such as "(1+2)*3", not a boolean', True),
    ('{"formula": 3}', None, 'key', 'the formula must be a string such as "(1+2)*3", not a number', True),
    ('{"formula": 2.5}', None, 'key', 'the formula must be a string such as "(1+2)*3", not a number', True),
    ('{"formula": null}', None, 'key', 'the formula must be a string such as "(1+2)*3", not null', True),
    ('{"formula": ""}', None, 'key', 'the formula field is empty', False),
    ('{"formula": "  ** "}', None, 'key', 'the formula field is empty', False),
    ('no numbers here', None, 'none', 'neither a "formula" field nor an arithmetic expression in the reply', False),
    ('**(8/(3-8/3))**', '(8/(3-8/3))', 'bare', None, False),
    ('*8/(3-8/3)*', '8/(3-8/3)', 'bare', None, False),
    ('so **8/(3-8/3)**.', '8/(3-8/3)', 'bare', None, False),
    ('(8*3*8/8) **', '(8*3*8/8) **', 'bare', None, False),
    ('N*(8/(3-8/3))', '(8/(3-8/3))', 'bare', None, False),
    ('8/(3-8/3)*', '8/(3-8/3)*', 'bare', None, False),
    ('x*8/(3-8/3)*', '8/(3-8/3)*', 'bare', None, False),
    (': *8/(3-8/3)*', '8/(3-8/3)', 'bare', None, False),
    ('***8/(3-8/3)***', '8/(3-8/3)', 'bare', None, False),
    ('a ****8/(3-8/3)', '8/(3-8/3)', 'bare', None, False),
    ('_8/(3-8/3)_', '8/(3-8/3)', 'bare', None, False),
    ('`8/(3-8/3)`.', '8/(3-8/3)', 'bare', None, False),
    ('$8/(3-8/3)$;', '8/(3-8/3)', 'bare', None, False),
    ('{"formula": "**8/(3-8/3)**"}', '8/(3-8/3)', 'key', None, False),
    ('{"formula": "8/(3-8/3) * "}', '8/(3-8/3) *', 'key', None, False),
]

CARD_CASES = [
    ('{"cards": ["8", "3", "8", "3"], "formula": "8/(3-8/3)"}', True, 'correct', 5.0, 'Correct: 8/(3-8/3) = 24.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3), True),
    ('{"cards": ["8", "3", "8", "3"], "formula": "8/(3-8/3)"}', False, 'correct', 5.0, 'Correct: 8/(3-8/3) = 24.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3), None),
    ('{"cards": ["8", "3", "8", "4"], "formula": "8/(3-8/3)"}', True, 'wrong_cards', -1.5, 'The cards you reported (8, 3, 8, 4) are not the cards in the image. Look at the image again and report the rank of each card.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3), False),
    ('{"cards": ["8", "3", "8", "4"], "formula": "8/(3-8/3)"}', False, 'correct', 5.0, 'Correct: 8/(3-8/3) = 24.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3), None),
    ('{"cards": ["8", "3", "8", "4"], "formula": "8*3+8-3"}', True, 'wrong_cards', -1.5, 'The cards you reported (8, 3, 8, 4) are not the cards in the image. Look at the image again and report the rank of each card.', '8*3+8-3', Fraction(29, 1), (8, 3, 8, 3), False),
    ('{"cards": ["8", "3", "8", "4"], "formula": "8*3+8-3"}', False, 'wrong_value', -1.0, 'Your formula 8*3+8-3 evaluates to 29, not 24.', '8*3+8-3', Fraction(29, 1), (8, 3, 8, 3), None),
    ('{"cards": ["8", "3", "8", "4"], "formula": "8+J"}', True, 'illegal_formula', -3.0, "Illegal formula: unexpected letter 'J' at position 3: write card values as numbers (e.g. 10 rather than J) and use only + - * / and parentheses.", None, None, None, False),
    ('{"cards": ["8", "3", "8", "4"], "formula": "8+J"}', False, 'illegal_formula', -3.0, "Illegal formula: unexpected letter 'J' at position 3: write card values as numbers (e.g. 10 rather than J) and use only + - * / and parentheses.", None, None, None, None),
    ('{"cards": ["8", "3", "8", "4"]}', True, 'no_formula', -3.0, 'No formula found: neither a "formula" field nor an arithmetic expression in the reply. Answer with JSON such as {"formula": "<your formula>"}.', None, None, None, False),
    ('{"cards": ["8", "3", "8", "4"]}', False, 'no_formula', -3.0, 'No formula found: neither a "formula" field nor an arithmetic expression in the reply. Answer with JSON such as {"formula": "<your formula>"}.', None, None, None, None),
    ('{"cards": ["8", "3", "8", "3"], "formula": "8+J"}', True, 'illegal_formula', -3.0, "Illegal formula: unexpected letter 'J' at position 3: write card values as numbers (e.g. 10 rather than J) and use only + - * / and parentheses.", None, None, None, True),
    ('{"cards": ["8", "3", "8", "3"], "formula": "8+J"}', False, 'illegal_formula', -3.0, "Illegal formula: unexpected letter 'J' at position 3: write card values as numbers (e.g. 10 rather than J) and use only + - * / and parentheses.", None, None, None, None),
    ('{"cards": 7, "formula": "8/(3-8/3)"}', True, 'wrong_cards', -1.5, 'The "cards" field must list the 4 ranks you see in the image, such as ["A", "7", "10", "K"].', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3), False),
    ('{"cards": 7, "formula": "8/(3-8/3)"}', False, 'correct', 5.0, 'Correct: 8/(3-8/3) = 24.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3), None),
    ('{"cards": ["éKé!", "a b c d e f g h i j k", "", "3"], "formula": "8/(3-8/3)"}', True, 'wrong_cards', -1.5, 'The cards you reported (K, a b c d e f , ?, 3) are not the cards in the image. Look at the image again and report the rank of each card.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3), False),
    ('{"cards": ["éKé!", "a b c d e f g h i j k", "", "3"], "formula": "8/(3-8/3)"}', False, 'correct', 5.0, 'Correct: 8/(3-8/3) = 24.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3), None),
    ('{"formula": "8/(3-8/3)"}', True, 'correct', 5.0, 'Correct: 8/(3-8/3) = 24.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3), None),
    ('{"formula": "8/(3-8/3)"}', False, 'correct', 5.0, 'Correct: 8/(3-8/3) = 24.', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3), None),
    ('{"cards": ["8", "3", "8"], "formula": "8*3+8-3"}', True, 'wrong_cards', -1.5, 'The cards you reported (8, 3, 8) are not the cards in the image. Look at the image again and report the rank of each card.', '8*3+8-3', Fraction(29, 1), (8, 3, 8, 3), False),
    ('{"cards": ["8", "3", "8"], "formula": "8*3+8-3"}', False, 'wrong_value', -1.0, 'Your formula 8*3+8-3 evaluates to 29, not 24.', '8*3+8-3', Fraction(29, 1), (8, 3, 8, 3), None),
]


@pytest.mark.parametrize("reply, verdict, reward, feedback, formula, value, numbers", CHECK_CASES)
def test_check_answer_table(reply, verdict, reward, feedback, formula, value, numbers) -> None:
    got = check_answer(reply, HAND)
    assert (got.verdict, got.reward, got.feedback) == (verdict, reward, feedback)
    assert (got.formula, got.value, got.numbers_used) == (formula, value, numbers)


@pytest.mark.parametrize("reply, formula, source, problem, illegal", EXTRACT_CASES)
def test_extraction_table(reply, formula, source, problem, illegal) -> None:
    got = extract_formula(reply)
    assert (got.formula, got.source, got.problem, got.illegal) == (formula, source, problem, illegal)


@pytest.mark.parametrize("reply, check_cards, verdict, reward, feedback, formula, value, numbers, recognized",
                         CARD_CASES)
def test_grade_reply_cards_table(reply, check_cards, verdict, reward, feedback, formula, value, numbers,
                                 recognized) -> None:
    got = grade_reply(reply, RANKS, ID_RULES, check_cards=check_cards)
    assert (got.verdict, got.reward, got.feedback) == (verdict, reward, feedback)
    assert (got.formula, got.value, got.numbers_used, got.recognized) == (formula, value, numbers, recognized)


def test_grade_reply_defaults_to_formula_only_and_uses_the_given_rewards() -> None:
    misread = '{"cards": ["8", "3", "8", "4"], "formula": "8/(3-8/3)"}'
    assert grade_reply(misread, RANKS, ID_RULES).verdict == "correct"  # check_cards defaults to False
    assert grade_reply(misread, RANKS, ID_RULES, BINARY_REWARDS).reward == 1.0
    assert grade_reply(misread, RANKS, ID_RULES, BINARY_REWARDS, check_cards=True).reward == 0.0
    assert grade_reply('{"formula": "8*3+8-3"}', RANKS, ID_RULES, BINARY_REWARDS).reward == 0.0
    nothing = grade_reply(None, RANKS, ID_RULES, check_cards=True)
    assert (nothing.verdict, nothing.feedback, nothing.recognized) == (
        "no_formula", "The reply must be text, not NoneType.", None)


@pytest.mark.parametrize("length, shown", [(118, None), (120, None), (122, 117)])
def test_long_formulas_are_shortened_in_feedback_past_120_characters(length: int, shown: int | None) -> None:
    # 10+3+8+3 = 24 with parentheses around the 10 and the first 3: 2 * (28 + depth) + 8 characters.
    depth = (length - 8) // 2 - 28
    formula = "(" * 28 + "10" + ")" * 28 + "+" + "(" * depth + "3" + ")" * depth + "+8+3"
    assert len(formula) == length
    got = check_answer(formula, [10, 3, 8, 3])
    assert (got.verdict, got.formula) == ("correct", formula)
    expected = formula if shown is None else formula[:shown] + "..."
    assert got.feedback == f"Correct: {expected} = 24."


def test_formula_length_limit_is_inclusive() -> None:
    at_limit = "8+3+8+3".ljust(MAX_FORMULA_CHARS)
    assert parse_formula(at_limit).value == 22
    with pytest.raises(FormulaError, match=f"is {MAX_FORMULA_CHARS + 1} characters long; the limit is 1000"):
        parse_formula(at_limit + " ")


def test_parse_formula_is_exact_for_huge_whole_quotients() -> None:
    # 7**40 * 3 / 3 is a whole number past float precision (unlike a power of two): it must stay exact.
    parsed = parse_formula("*".join(["7"] * 40) + "*3/3")
    assert parsed.value == Fraction(7**40)
    assert parsed.numbers == (7,) * 40 + (3, 3)
    with pytest.raises(FormulaError, match="^operator '\\+' has no left operand$"):
        parse_formula("+8")
    with pytest.raises(TypeError, match="^formula must be a str, got int$"):
        parse_formula(24)  # type: ignore[arg-type]


@pytest.mark.parametrize("formula, structural, value", [
    ("8+3", "3 + 8", 11), ("8-3", "8 - 1*3", 5), ("8*3", "8*3", 24), ("8/3", "8/3", Fraction(8, 3)),
    ("8-3*3-8", "-1*8 + (8 - 3*3)", -9), ("(8+8)/(3-3/3)", "(8 + 8)/(3 - 3/3)", 8),
])
def test_formula_to_sympy_keeps_structure_and_value(formula: str, structural: str, value) -> None:
    import sympy

    kept = formula_to_sympy(formula)
    assert str(kept) == structural
    assert sympy.simplify(kept) == sympy.Rational(str(value))
    evaluated = formula_to_sympy(formula, evaluate=True)
    assert evaluated == sympy.Rational(str(value)) and evaluated.is_Rational


def test_formula_to_sympy_refuses_division_by_zero_and_illegal_text() -> None:
    with pytest.raises(FormulaError, match="^the formula divides by zero$"):
        formula_to_sympy("8/(3-3)")
    with pytest.raises(FormulaError, match="'//' is not an operator"):
        formula_to_sympy("8//3")
    with pytest.raises(FormulaError, match="the operator '\\*' is not allowed in this game; allowed: \\+ -"):
        formula_to_sympy("8*3", operators="+-")


def test_build_expression_builds_bottom_up_with_the_given_operators() -> None:
    built = build_expression("8-3*(8+3)", str, lambda op, a, b: f"[{a}{op}{b}]")
    assert built == "[8-[3*[8+3]]]"
    with pytest.raises(FormulaError, match="allowed: \\+ -$"):
        build_expression("8/3", str, lambda op, a, b: a, operators="+-")


@pytest.mark.parametrize("value, text", [
    (24, "24"), (Fraction(-7, 2), "-7/2"), (10**39, "1" + "0" * 39), (10**40, "a number of about 41 digits"),
    (Fraction(10**50, 7), "a number of about 51 digits"),
])
def test_format_number(value, text: str) -> None:
    assert format_number(value) == text


# ---- the paper's checker (gpoints_env.paper_checker) ---------------------------------------------------------

PAPER_CASES = [
    (None, False, 'no_formula', -3.0, 'illegal characters.', 'ILLEGAL_FORMULA', None, None, None, None),
    (42, False, 'no_formula', -3.0, 'illegal characters.', 'ILLEGAL_FORMULA', None, None, None, None),
    ('I think "formula": "8 x 3" works', False, 'illegal_formula', -3.0, 'illegal characters.', 'ILLEGAL_FORMULA', None, None, None, None),
    ('I think "formula": "8*3" works', False, 'wrong_numbers', -2.0, "you didn't use numbers: [8, 3].", 'INCORRECT_NUMBER', '8*3', None, (8, 3), None),
    ('{"formula": "8/(3-8/3)"}', False, 'correct', 5.0, 'Correct solution.', 'CORRECT_SOLUTION', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3), None),
    ('{"formula": "8/(3-8/3)=24"}', False, 'correct', 5.0, 'Correct solution.', 'CORRECT_SOLUTION', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3), None),
    ('{"formula": "(8+3))*8/3"}', False, 'illegal_formula', -3.0, 'unmatched closing parenthesis.', 'ILLEGAL_FORMULA', '(8+3))*8/3', None, (8, 3, 8, 3), None),
    ('{"formula": "((8+3)*8/3"}', False, 'illegal_formula', -1.0, 'your formula does not match any solution.', 'NO_SOLUTION', '((8+3)*8/3', None, (8, 3, 8, 3), None),
    ('{"formula": "8+3)+(8+3"}', False, 'illegal_formula', -3.0, 'unmatched closing parenthesis.', 'ILLEGAL_FORMULA', '8+3)+(8+3', None, (8, 3, 8, 3), None),
    ('{"formula": "(8+3)(8+3)"}', False, 'illegal_formula', -6.0, "invalid sequence before '(', unmatched closing parenthesis.", 'AGGREGATED_ERROR', '(8+3)(8+3)', None, (8, 3, 8, 3), None),
    ('{"formula": "8++3*8*3"}', False, 'illegal_formula', -3.0, 'invalid sequence after operator.', 'ILLEGAL_FORMULA', '8++3*8*3', None, (8, 3, 8, 3), None),
    ('{"formula": "8 3+8+3"}', False, 'illegal_formula', -3.0, 'illegal characters.', 'ILLEGAL_FORMULA', None, None, None, None),
    ('{"formula": "8*3*8*8"}', False, 'wrong_numbers', -4.0, "you used numbers: [8] too many times, you didn't use numbers: [3].", 'AGGREGATED_ERROR', '8*3*8*8', None, (8, 3, 8, 8), None),
    ('{"formula": "8*3*8*3*3*3"}', False, 'wrong_numbers', -2.0, 'you used numbers: [3] too many times.', 'INCORRECT_NUMBER', '8*3*8*3*3*3', None, (8, 3, 8, 3, 3, 3), None),
    ('{"formula": "8*3*8*3*8"}', False, 'wrong_numbers', -2.0, 'you used numbers: [8] too many times.', 'INCORRECT_NUMBER', '8*3*8*3*8', None, (8, 3, 8, 3, 8), None),
    ('{"formula": "8*3*9"}', False, 'wrong_numbers', -4.0, "you used invalid numbers: [9], you didn't use numbers: [8, 3].", 'AGGREGATED_ERROR', '8*3*9', None, (8, 3, 9), None),
    ('{"formula": "8+3+8+3"}', False, 'wrong_value', -1.0, '8 is partially correct but the full formula does not match any solution.', 'NO_SOLUTION', '8+3+8+3', Fraction(22, 1), (8, 3, 8, 3), None),
    ('{"formula": "8/(3-8"}', False, 'wrong_numbers', -2.0, "you didn't use numbers: [3].", 'INCORRECT_NUMBER', '8/(3-8', None, (8, 3, 8), None),
    ('{"formula": "8/(3-8/3"}', False, 'illegal_formula', 1.0, 'partial solution.', 'PARTIAL_SOLUTION', '8/(3-8/3', None, (8, 3, 8, 3), None),
    ('{"formula": "8/(3-3)+8-3"}', False, 'wrong_numbers', -2.0, 'you used numbers: [3] too many times.', 'INCORRECT_NUMBER', '8/(3-3)+8-3', None, (8, 3, 3, 8, 3), None),
    ('{"formula": "8/(3-3)*8*3"}', False, 'wrong_numbers', -2.0, 'you used numbers: [3] too many times.', 'INCORRECT_NUMBER', '8/(3-3)*8*3', None, (8, 3, 3, 8, 3), None),
    ('{"formula": "8*3-8+8"}', False, 'wrong_numbers', -4.0, "you used numbers: [8] too many times, you didn't use numbers: [3].", 'AGGREGATED_ERROR', '8*3-8+8', None, (8, 3, 8, 8), None),
    ('{"formula": "3*8-8+8"}', False, 'wrong_numbers', -4.0, "you used numbers: [8] too many times, you didn't use numbers: [3].", 'AGGREGATED_ERROR', '3*8-8+8', None, (3, 8, 8, 8), None),
    ('{"formula": "8/3*8/3"}', False, 'wrong_value', -1.0, '8/ is partially correct but the full formula does not match any solution.', 'NO_SOLUTION', '8/3*8/3', Fraction(64, 9), (8, 3, 8, 3), None),
    ('{"formula": "(8+3)*8/3"}', False, 'wrong_value', -1.0, 'your formula does not match any solution.', 'NO_SOLUTION', '(8+3)*8/3', Fraction(88, 3), (8, 3, 8, 3), None),
    ('{"formula": "8+8*3/3"}', False, 'wrong_value', -1.0, '8 is partially correct but the full formula does not match any solution.', 'NO_SOLUTION', '8+8*3/3', Fraction(16, 1), (8, 8, 3, 3), None),
    ('{"formula": ""}', False, 'wrong_numbers', -2.0, "you didn't use numbers: [8, 3].", 'INCORRECT_NUMBER', '', None, (), None),
    ('{"cards": ["8", "3", "8", "3"], "formula": "8/(3-8/3)"}', False, 'correct', 5.0, 'Correct solution.', 'CORRECT_SOLUTION', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3), None),
    ('{"cards": "[8, 3, 8, 3]", "formula": "8/(3-8/3)"}', True, 'correct', 5.0, 'Correct solution.', 'CORRECT_SOLUTION', '8/(3-8/3)', Fraction(24, 1), (8, 3, 8, 3), True),
    ('"cards": [8,3,3,8], "formula": "8+3+8+3"', True, 'wrong_value', -1.0, '8 is partially correct but the full formula does not match any solution.', 'NO_SOLUTION', '8+3+8+3', Fraction(22, 1), (8, 3, 8, 3), True),
    ('"cards": [8, 3, 8, 3], "formula": "8/(3-8/3)"', True, 'wrong_cards', -1.5, 'you recognized wrong cards', 'INCORRECT_VISION', None, None, None, False),
    (None, True, 'wrong_cards', -1.5, 'you recognized wrong cards', 'INCORRECT_VISION', None, None, None, False),
]

PAPER_READS = [
    ('x "formula": "8+3" y "formula": "3+8"', '8+3', 'None', 'None'),
    ('"formula": "8+\n3" "formula": "3*8"', '3*8', 'None', 'None'),
    ('"formula": "8+\n"formula": "3+8"', '3+8', 'None', 'None'),
    ('"formula": "8+\n\n"formula": "3+8"\n', '3+8', 'None', 'None'),
    ('"cards": [] "cards": [8, 3, 8, 3]', 'None', [8, 3, 8, 3], 'None'),
    ('"cards": [8, 3, 8, 3]', 'None', [8, 3, 8, 3], 'None'),
    ('"cards": [8,3,8,3]', 'None', '[8,3,8,3]', 'None'),
    ('"cards": [8, 3, 8, "3"]', 'None', '[8, 3, 8, "3"]', 'None'),
    ('"number": [8, 3, 8, 3]', 'None', 'None', '8, 3, 8, 3'),
    ('"number": []', 'None', 'None', 'None'),
    ('{"number": [8]}', 'None', 'None', [8]),
    ('"formula": "8+3', 'None', 'None', 'None'),
    ('plain', 'None', 'None', 'None'),
    ('{"formula": 5}', 5, 'None', 'None'),
    ('{"x": 1}', 'None', 'None', 'None'),
    ('"cards": [8, 3\n]', 'None', [8, 3], 'None'),
]

PAPER_TARGET_25 = [
    ('8*3+8/8', 'correct', 5.0, 'Correct solution.', 'CORRECT_SOLUTION', Fraction(25, 1)),
    ('(8*3+8/8', 'illegal_formula', -1.0, '(8*3 is partially correct but the full formula does not match any solution.', 'NO_SOLUTION', None),
]


@pytest.mark.parametrize("reply, image, verdict, reward, feedback, label, formula, value, numbers, recognized",
                         PAPER_CASES)
def test_paper_grade_table(reply, image, verdict, reward, feedback, label, formula, value, numbers,
                           recognized) -> None:
    got = paper_grade(reply, RANKS, ID_RULES, image=image)
    assert (got.verdict, got.reward, got.feedback, got.label) == (verdict, reward, feedback, label)
    assert (got.formula, got.value, got.numbers_used, got.recognized) == (formula, value, numbers, recognized)


@pytest.mark.parametrize("reply, formula, cards, number", PAPER_READS)
def test_paper_read_field_table(reply, formula, cards, number) -> None:
    assert paper_read_field(reply, "formula") == formula
    assert paper_read_field(reply, "cards") == cards
    assert paper_read_field(reply, "number") == number


def test_paper_read_field_names_the_keys_it_reads() -> None:
    with pytest.raises(ValueError, match="^paper_read_field reads 'formula', 'cards' or 'number', got 'value'$"):
        paper_read_field("{}", "value")


@pytest.mark.parametrize("formula, verdict, reward, feedback, label, value", PAPER_TARGET_25)
def test_paper_grade_walks_the_answer_key_of_the_rules_target(formula, verdict, reward, feedback, label,
                                                              value) -> None:
    got = paper_grade(f'{{"formula": "{formula}"}}', ["8", "3", "8", "8"], Rules(target=25))
    assert (got.verdict, got.reward, got.feedback, got.label, got.value) == (verdict, reward, feedback, label, value)


def test_paper_formula_length_limit_is_inclusive() -> None:
    at_limit = "8/(3-8/3)".ljust(PAPER_MAX_FORMULA_CHARS, "3")[:PAPER_MAX_FORMULA_CHARS]
    assert len(at_limit) == PAPER_MAX_FORMULA_CHARS
    # Legal characters up to the limit: graded (its number check fails), not "illegal characters".
    assert paper_grade(f'{{"formula": "{at_limit}"}}', RANKS, ID_RULES).feedback != "illegal characters."
    assert paper_grade(f'{{"formula": "{at_limit}3"}}', RANKS, ID_RULES).feedback == "illegal characters."


def test_a_reply_that_is_not_text_is_named_by_its_type() -> None:
    got = check_answer(42, HAND)
    assert (got.verdict, got.reward, got.feedback) == ("no_formula", -3.0, "The reply must be text, not int.")


@pytest.mark.parametrize("reply, formula", [
    ("a ***8*3*8*3*", "8*3*8*3"),  # three stars after a blank open emphasis: the trailing '*' is emphasis
    ("a ****8*3*8*3*", "8*3*8*3*"),  # a fourth star is not emphasis: the trailing '*' stays (and is illegal)
    ("X**8*3*8*3**", "8*3*8*3**"),  # stars after a letter are operators, not emphasis
])
def test_emphasis_opens_with_at_most_three_stars_after_a_blank(reply: str, formula: str) -> None:
    assert extract_formula(reply).formula == formula


@pytest.mark.parametrize("formula, message", [
    ("8+3+8+3X", "unexpected letter 'X' at position 8: "),  # an X is a letter like any other
    ("8+3@8@3", "unexpected character '@' at position 4;"),  # the first offending character is named
])
def test_tokeniser_names_the_first_offending_character(formula: str, message: str) -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula(formula)
    assert str(info.value).startswith(message)


def test_stars_inside_a_formula_field_are_not_emphasis() -> None:
    # Only stars before the formula open emphasis; the formula's own '*' does not make its trailing '*' markup.
    assert extract_formula('{"formula": " 8*3+8*3*"}').formula == "8*3+8*3*"
    assert extract_formula('{"formula": " **8*3+8*3**"}').formula == "8*3+8*3"
