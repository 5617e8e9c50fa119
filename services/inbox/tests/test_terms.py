"""The search analyzer: Chinese by a word inside a sentence, Latin folded, phone numbers by digits, highlights."""

from __future__ import annotations

from omnihub.inbox.terms import contains_words, highlight, identity_terms, index_terms, parse_query

SENTENCE = "您好，我想申请退款因为商品坏了"


def test_a_two_character_chinese_word_inside_a_sentence_is_found() -> None:
    query = parse_query("退款")
    assert query.matches(index_terms(SENTENCE))
    assert not query.matches(index_terms("我想换一个颜色"))
    assert contains_words(parse_query("申请退款"), SENTENCE)
    assert parse_query("申请退款").matches(index_terms(SENTENCE))


def test_chinese_words_need_not_be_next_to_each_other_but_each_must_be_whole() -> None:
    assert parse_query("退款 商品").matches(index_terms(SENTENCE))
    assert not parse_query("退货").matches(index_terms(SENTENCE))  # 退 alone is there, 退货 is not


def test_one_chinese_character_is_a_prefix_of_the_bigrams_even_at_a_sentence_end() -> None:
    query = parse_query("了")
    assert query.prefixes == ("了",) and query.matches(index_terms(SENTENCE))


def test_latin_text_is_case_and_accent_insensitive() -> None:
    terms = index_terms("Je voudrais un REMBOURSEMENT pour le Café, merci Zoë")
    assert parse_query("cafe").matches(terms)
    assert parse_query("CAFÉ zoe").matches(terms)
    assert not parse_query("rembou").matches(terms)  # Latin words match whole
    assert parse_query("the").empty  # stop words alone search nothing


def test_phone_numbers_by_digits_with_or_without_the_country_code() -> None:
    terms = identity_terms("+8613800138000")
    for typed in ("+86 138 0013 8000", "13800138000", "138-0013-8000", "8613800138000"):
        assert parse_query(typed).matches(terms), typed
    assert not parse_query("13800138001").matches(terms)
    assert parse_query("555 010 2000").matches(index_terms("call me at +1 (555) 010-2000"))


def test_emails_and_ids_are_whole_terms() -> None:
    terms = index_terms("li.wei@example.com cnv_01JABC")
    assert parse_query("Li.Wei@Example.com").matches(terms)
    assert parse_query("cnv_01jabc").matches(terms)
    assert not parse_query("wang.wei@example.com").matches(terms)
    assert identity_terms("oWx_openid_123") == index_terms("oWx_openid_123")  # not a number: no digit suffixes


def test_highlights_point_at_the_original_characters() -> None:
    snippet, spans = highlight(SENTENCE, parse_query("退款"))
    assert [snippet[s:e] for s, e in spans] == ["退款"]
    text = "Eine Straße, ein Café und noch ein cafe"
    snippet, spans = highlight(text, parse_query("strasse cafe"))
    assert [snippet[s:e] for s, e in spans] == ["Straße", "Café", "cafe"]
    long = "x" * 500 + " 退款 " + "y" * 500
    snippet, spans = highlight(long, parse_query("退款"), width=100)
    assert snippet.startswith("…") and snippet.endswith("…") and [snippet[s:e] for s, e in spans] == ["退款"]
