//! The `xml` response handler: a body read into the dict `xmltodict.parse` makes of it, which
//! is what Ceilometer's dynamic pollsters then read their attributes from.
//!
//! xmltodict's rules, with Ceilometer's (default) options: the document is `{root: value}`; an
//! element's value is a dict of its attributes (`@name`, namespace declarations included, as
//! written: namespaces are not processed) and children (a name repeated becomes a list, in
//! order), with its text as `#text` when it has either; an element with neither is its text, or
//! `None` when it has none. Text is the element's character data joined across its children and
//! stripped of surrounding whitespace; comments and processing instructions are left out; entity
//! declarations are refused.

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use simd_json::owned::Object;
use simd_json::prelude::ValueBuilder;

use crate::model::OwnedValue;

/// An element being read: its attributes and children so far, and its text.
struct Open {
    name: String,
    item: Option<Object>,
    text: Option<String>,
}

/// `xmltodict.parse(body)`.
pub fn xml_to_dict(body: &[u8]) -> Result<OwnedValue, String> {
    let text = String::from_utf8_lossy(body);
    let mut reader = Reader::from_str(&text);
    let mut open: Vec<Open> = Vec::new();
    let mut document: Option<Object> = None;
    let error = |e: &dyn std::fmt::Display| format!("xml: {e}");
    loop {
        let event = reader.read_event().map_err(|e| error(&e))?;
        match event {
            Event::Start(start) => open.push(start_element(&start, &document)?),
            Event::Empty(start) => {
                let element = start_element(&start, &document)?;
                close(element, &mut open, &mut document);
            }
            Event::End(_) => {
                let element = open.pop().ok_or("xml: a closing tag without its opening")?;
                close(element, &mut open, &mut document);
            }
            Event::Text(t) => characters(&t.xml10_content(), &mut open)?,
            Event::CData(t) => characters(&t.xml10_content(), &mut open)?,
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| error(&e))? {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| format!("xml: undefined entity &{};", &*r))?
                        .to_owned(),
                };
                characters(&resolved, &mut open)?;
            }
            Event::DocType(d) if d.contains("<!ENTITY") => return Err("xml: entities are disabled".into()),
            Event::Eof => break,
            // The declaration, a document type without entities, comments, processing instructions.
            _ => {}
        }
    }
    if let Some(element) = open.last() {
        return Err(format!("xml: <{}> is not closed", element.name));
    }
    document
        .map(OwnedValue::from)
        .ok_or_else(|| "xml: no element found".into())
}

fn start_element(start: &BytesStart<'_>, document: &Option<Object>) -> Result<Open, String> {
    if document.is_some() {
        return Err("xml: junk after document element".into());
    }
    let name = start.name().as_ref().to_owned();
    let mut attributes = Object::with_capacity_and_hasher(0, Default::default());
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| format!("xml: <{name}>: {e}"))?;
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("xml: <{name}>: {e}"))?;
        let key = format!("@{}", attribute.key.as_ref());
        attributes.insert(key, OwnedValue::from(value.into_owned()));
    }
    Ok(Open {
        name,
        item: (!attributes.is_empty()).then_some(attributes),
        text: None,
    })
}

fn characters(text: &str, open: &mut [Open]) -> Result<(), String> {
    match open.last_mut() {
        Some(element) => element.text.get_or_insert_with(String::new).push_str(text),
        None if text.trim().is_empty() => {}
        None => return Err("xml: text outside the document element".into()),
    }
    Ok(())
}

/// The element is done: its value goes into its parent (or becomes the document).
fn close(element: Open, open: &mut [Open], document: &mut Option<Object>) {
    let text = element
        .text
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let value = match (element.item, text) {
        (Some(mut item), text) => {
            if let Some(text) = text {
                push(&mut item, "#text", OwnedValue::from(text));
            }
            OwnedValue::from(item)
        }
        (None, Some(text)) => OwnedValue::from(text),
        (None, None) => OwnedValue::null(),
    };
    let parent = match open.last_mut() {
        Some(parent) => parent.item.get_or_insert_with(Object::default),
        None => document.get_or_insert_with(Object::default),
    };
    push(parent, &element.name, value);
}

/// xmltodict's `push_data`: a second value under a name makes a list of them.
fn push(item: &mut Object, key: &str, value: OwnedValue) {
    match item.get_mut(key) {
        Some(OwnedValue::Array(list)) => list.push(value),
        Some(existing) => {
            let first = std::mem::take(existing);
            *existing = OwnedValue::from(vec![first, value]);
        }
        None => {
            item.insert(key.to_owned(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(xml: &str) -> String {
        xml_to_dict(xml.as_bytes())
            .map_or_else(|e| format!("error: {e}"), |v| simd_json::to_string(&v).unwrap())
    }

    /// What xmltodict 1.0.4 (Ceilometer 27's) made of each document, printed by its `parse`.
    #[test]
    fn documents_read_as_xmltodict_reads_them() {
        let cases = [
            (
                r#"<a xmlns="u" xmlns:p="v" b="1"><p:c>x</p:c><c> y </c><c/><d>1<e/>2</d><!-- c --></a>"#,
                r##"{"a":{"@xmlns":"u","@xmlns:p":"v","@b":"1","p:c":"x","c":["y",null],"d":{"e":null,"#text":"12"}}}"##,
            ),
            ("<a/>", r#"{"a":null}"#),
            ("<a>t<![CDATA[ <x> ]]></a>", r#"{"a":"t <x>"}"#),
            (
                r#"<r><i id="1">5</i><i id="2"/></r>"#,
                r##"{"r":{"i":[{"@id":"1","#text":"5"},{"@id":"2"}]}}"##,
            ),
            (r#"<?xml version="1.0"?><r>&amp;&#65;</r>"#, r#"{"r":"&A"}"#),
        ];
        for (xml, want) in cases {
            assert_eq!(parsed(xml), want, "{xml}");
        }
        for bad in ["", "<a>", "<a></b>", "<a/><b/>", "x<a/>", "<a>&nope;</a>"] {
            assert!(parsed(bad).starts_with("error: "), "{bad:?} should fail");
        }
    }
}
