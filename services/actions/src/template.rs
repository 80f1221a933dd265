//! `{{name}}` substitution for email templates.
//!
//! Deliberately tiny: the templates come from the operator's config, the
//! values from the task (form fields a visitor typed). So values are never
//! interpreted — no loops, no includes — and in HTML they are escaped, so a
//! visitor who types `<script>` as a first name gets exactly that text.

use serde_json::Value;

/// `template` with every `{{ name }}` replaced by the value of `name` in
/// `vars`: a top-level field, or `fields.x` for a form field. Missing
/// names and non-scalar values become empty. An unclosed `{{` is kept as
/// written.
pub fn render(template: &str, vars: &Value, html: bool) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let name = rest[start + 2..start + 2 + len].trim();
        let value = lookup(vars, name);
        if html {
            out.push_str(&escape_html(&value));
        } else {
            out.push_str(&value);
        }
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    out
}

fn lookup(vars: &Value, name: &str) -> String {
    let mut node = vars;
    for part in name.split('.') {
        match node.get(part) {
            Some(next) => node = next,
            None => return String::new(),
        }
    }
    match node {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn escape_html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn substitutes_fields_and_form_fields() {
        let vars = json!({"first_name": "Ada", "score": 7, "fields": {"company": "ACME"}});
        assert_eq!(
            render(
                "Hi {{first_name}} of {{ fields.company }} ({{score}}){{nope}}",
                &vars,
                false
            ),
            "Hi Ada of ACME (7)"
        );
    }

    #[test]
    fn escapes_values_in_html_but_not_the_template() {
        let vars = json!({"first_name": "<b>Ada</b> & co"});
        assert_eq!(
            render("<p>{{first_name}}</p>", &vars, true),
            "<p>&lt;b&gt;Ada&lt;/b&gt; &amp; co</p>"
        );
        assert_eq!(render("{{first_name}}", &vars, false), "<b>Ada</b> & co");
    }

    #[test]
    fn an_unclosed_brace_is_kept() {
        assert_eq!(render("a {{b", &json!({}), false), "a {{b");
    }
}
