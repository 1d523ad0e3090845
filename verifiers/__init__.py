"""verifiers: pure judging of answers (math, code, logic, steps, voting).

The verifiers arrive with their own issue; problems already carry the name of the
verifier that will judge them (`math`, `code`, `logic.<task>`).
"""
