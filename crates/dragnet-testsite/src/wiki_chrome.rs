//! The parts every Wikipedia-like page shares: head, header navigation, sidebar, language
//! links and footer. They are the "distracting links" a crawler must not mistake for content.

use crate::text::{escape, push_escaped};

/// An origin that looks external to a crawler but stays on this machine: nothing listens on
/// port 1, so a crawler that follows it gets an immediate connection refusal.
pub(crate) const EXTERNAL: &str = "http://127.0.0.1:1";

const NAV: &[(&str, &str)] = &[
    ("Main_Page", "Main page"),
    ("Wikipedia:Contents", "Contents"),
    ("Portal:Current_events", "Current events"),
    ("Special:Random", "Random article"),
    ("Wikipedia:About", "About Wikipedia"),
    ("Wikipedia:Contact_us", "Contact us"),
    ("Help:Contents", "Help"),
    ("Help:Introduction", "Learn to edit"),
    ("Wikipedia:Community_portal", "Community portal"),
    ("Special:RecentChanges", "Recent changes"),
    ("Wikipedia:File_upload_wizard", "Upload file"),
    ("Special:Search", "Search"),
    ("Special:CreateAccount", "Create account"),
    ("Special:UserLogin", "Log in"),
    ("Special:SpecialPages", "Special pages"),
];

const LANGS: &[(&str, &str)] = &[
    ("af", "Afrikaans"),
    ("ar", "العربية"),
    ("az", "Azərbaycanca"),
    ("bn", "বাংলা"),
    ("bg", "Български"),
    ("ca", "Català"),
    ("cs", "Čeština"),
    ("da", "Dansk"),
    ("de", "Deutsch"),
    ("et", "Eesti"),
    ("el", "Ελληνικά"),
    ("es", "Español"),
    ("eo", "Esperanto"),
    ("eu", "Euskara"),
    ("fa", "فارسی"),
    ("fr", "Français"),
    ("gl", "Galego"),
    ("ko", "한국어"),
    ("hi", "हिन्दी"),
    ("hr", "Hrvatski"),
    ("id", "Bahasa Indonesia"),
    ("it", "Italiano"),
    ("he", "עברית"),
    ("ka", "ქართული"),
    ("lv", "Latviešu"),
    ("lt", "Lietuvių"),
    ("hu", "Magyar"),
    ("ms", "Bahasa Melayu"),
    ("nl", "Nederlands"),
    ("ja", "日本語"),
    ("no", "Norsk bokmål"),
    ("pl", "Polski"),
    ("pt", "Português"),
    ("ro", "Română"),
    ("ru", "Русский"),
    ("sk", "Slovenčina"),
    ("sl", "Slovenščina"),
    ("sr", "Српски / srpski"),
    ("fi", "Suomi"),
    ("sv", "Svenska"),
    ("ta", "தமிழ்"),
    ("th", "ไทย"),
    ("tr", "Türkçe"),
    ("uk", "Українська"),
    ("ur", "اردو"),
    ("vi", "Tiếng Việt"),
    ("zh", "中文"),
];

const FOOTER: &[(&str, &str)] = &[
    ("Wikipedia:About", "About Wikipedia"),
    ("Wikipedia:General_disclaimer", "Disclaimers"),
    ("Wikipedia:Contact_us", "Contact Wikipedia"),
    ("Wikipedia:Code_of_Conduct", "Code of Conduct"),
    (
        "Special:MyLanguage/Wikipedia:Cookie_statement",
        "Cookie statement",
    ),
    (
        "Wikipedia:Text_of_the_Creative_Commons_Attribution-ShareAlike_4.0_International_License",
        "CC BY-SA 4.0",
    ),
];

/// Writes the document head and the top of the body (header, sidebar, language links) for the
/// page `enc` (the percent-encoded title) shown as `display`.
pub(crate) fn push_top(out: &mut String, enc: &str, title: &str, display: &str) {
    out.push_str("<!DOCTYPE html>\n<html class=\"client-nojs\" lang=\"en\" dir=\"ltr\">\n<head>\n<meta charset=\"UTF-8\">\n<title>");
    push_escaped(out, display);
    out.push_str(" - Wikipedia</title>\n");
    for module in [
        "site.styles",
        "skins.vector.styles",
        "ext.cite.styles",
        "ext.uls.interlanguage",
    ] {
        out.push_str("<link rel=\"stylesheet\" href=\"/w/load.php?lang=en&amp;modules=");
        out.push_str(module);
        out.push_str("&amp;only=styles&amp;skin=vector-2022\">\n");
    }
    out.push_str("<link rel=\"icon\" href=\"/static/favicon/wikipedia.ico\">\n<link rel=\"canonical\" href=\"/wiki/");
    out.push_str(enc);
    out.push_str("\">\n<script>RLCONF={\"wgPageName\":\"");
    push_escaped(out, title);
    out.push_str("\",\"wgNamespaceNumber\":0,\"wgAction\":\"view\",\"wgIsArticle\":true};</script>\n</head>\n");
    out.push_str("<body class=\"skin-vector skin-vector-search-vue mediawiki ltr sitedir-ltr ns-0 ns-subject page-");
    out.push_str(enc);
    out.push_str("\">\n<a class=\"mw-jump-link\" href=\"#bodyContent\">Jump to content</a>\n<header class=\"vector-header mw-header\">\n<nav class=\"vector-main-menu\" aria-label=\"Site\"><ul>\n");
    for (target, label) in NAV {
        push_li_link(out, target, label);
    }
    out.push_str("</ul></nav>\n<a href=\"/wiki/Main_Page\" class=\"mw-logo\"><img class=\"mw-logo-icon\" src=\"/static/images/icons/wikipedia.png\" alt=\"\" width=\"50\" height=\"50\"></a>\n");
    out.push_str("<form action=\"/w/index.php\" id=\"searchform\"><input type=\"search\" name=\"search\" placeholder=\"Search Wikipedia\"><input type=\"hidden\" name=\"title\" value=\"Special:Search\"></form>\n</header>\n");
    out.push_str("<div id=\"mw-panel\" class=\"vector-sidebar\">\n<nav id=\"p-tb\" aria-label=\"Tools\"><ul>\n");
    push_li_link(
        out,
        &format!("Special:WhatLinksHere/{enc}"),
        "What links here",
    );
    push_li_link(
        out,
        &format!("Special:RecentChangesLinked/{enc}"),
        "Related changes",
    );
    out.push_str("<li><a href=\"/w/index.php?title=");
    out.push_str(enc);
    out.push_str(
        "&amp;oldid=1200000000\">Permanent link</a></li>\n<li><a href=\"/w/index.php?title=",
    );
    out.push_str(enc);
    out.push_str("&amp;action=info\">Page information</a></li>\n<li><a href=\"/w/index.php?title=Special:CiteThisPage&amp;page=");
    out.push_str(enc);
    out.push_str("\">Cite this page</a></li>\n</ul></nav>\n<nav id=\"p-lang\" aria-label=\"In other projects and languages\"><ul>\n");
    for (code, name) in LANGS {
        out.push_str("<li class=\"interlanguage-link interwiki-");
        out.push_str(code);
        out.push_str("\"><a href=\"");
        out.push_str(EXTERNAL);
        out.push('/');
        out.push_str(code);
        out.push_str("/wiki/");
        out.push_str(enc);
        out.push_str("\" title=\"");
        push_escaped(out, display);
        out.push_str("\" lang=\"");
        out.push_str(code);
        out.push_str("\" hreflang=\"");
        out.push_str(code);
        out.push_str("\" class=\"interlanguage-link-target\">");
        out.push_str(name);
        out.push_str("</a></li>\n");
    }
    out.push_str("</ul></nav>\n</div>\n<main id=\"content\" class=\"mw-body\" role=\"main\">\n<h1 id=\"firstHeading\" class=\"firstHeading mw-first-heading\"><span class=\"mw-page-title-main\">");
    push_escaped(out, display);
    out.push_str("</span></h1>\n<div id=\"bodyContent\" class=\"vector-body\">\n<div id=\"siteSub\" class=\"noprint\">From Wikipedia, the free encyclopedia</div>\n<div id=\"mw-content-text\" class=\"mw-body-content\"><div class=\"mw-parser-output\">\n");
}

/// Closes the content and writes the footer.
pub(crate) fn push_bottom(out: &mut String, enc: &str) {
    out.push_str("</div></div>\n<div id=\"catlinks\" class=\"catlinks\"><a href=\"/wiki/Help:Category\" title=\"Help:Category\">Categories</a>: <ul><li><a href=\"/wiki/Category:Member_states_of_the_United_Nations\">Member states of the United Nations</a></li></ul></div>\n</div>\n</main>\n<footer id=\"footer\" class=\"mw-footer\">\n<ul id=\"footer-info\"><li id=\"footer-info-lastmod\">This page was last edited on 1 March 2024, at 12:00<span class=\"anonymous-show\">&#160;(UTC)</span>.</li></ul>\n<ul id=\"footer-places\">\n");
    for (target, label) in FOOTER {
        push_li_link(out, target, label);
    }
    out.push_str("<li><a href=\"");
    out.push_str(EXTERNAL);
    out.push_str("/wiki/Policy:Privacy_policy\">Privacy policy</a></li>\n<li><a href=\"");
    out.push_str(EXTERNAL);
    out.push_str("/developers\">Developers</a></li>\n<li><a href=\"");
    out.push_str(EXTERNAL);
    out.push_str("/stats\">Statistics</a></li>\n<li><a href=\"//127.0.0.1:1/w/index.php?title=");
    out.push_str(enc);
    out.push_str("&amp;mobileaction=toggle_view_mobile\" class=\"noprint stopMobileRedirectToggle\">Mobile view</a></li>\n</ul>\n</footer>\n</body>\n</html>\n");
}

/// Writes `<li><a href="/wiki/TARGET" title="...">LABEL</a></li>` (`target` is already encoded).
pub(crate) fn push_li_link(out: &mut String, target: &str, label: &str) {
    out.push_str("<li><a href=\"/wiki/");
    out.push_str(target);
    out.push_str("\" title=\"");
    push_escaped(out, &target.replace('_', " "));
    out.push_str("\">");
    push_escaped(out, label);
    out.push_str("</a></li>\n");
}

/// Writes `<a href="/wiki/ENC" title="TITLE">TEXT</a>`.
pub(crate) fn push_wiki_link(out: &mut String, enc: &str, title: &str, text: &str) {
    out.push_str("<a href=\"/wiki/");
    out.push_str(enc);
    out.push_str("\" title=\"");
    push_escaped(out, &title.replace('_', " "));
    out.push_str("\">");
    push_escaped(out, text);
    out.push_str("</a>");
}

/// A small, complete page for any other `/wiki/` title: a heading, two paragraphs and links back
/// to the main page and the list, so following "all links" terminates.
pub(crate) fn small_page(title: &str, list_enc: &str) -> String {
    let display = title.replace('_', " ");
    let enc = crate::text::encode_title(title);
    let mut out = String::with_capacity(2048);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"UTF-8\">\n<title>");
    out.push_str(&escape(&display));
    out.push_str(" - Wikipedia</title>\n<link rel=\"canonical\" href=\"/wiki/");
    out.push_str(&enc);
    out.push_str("\">\n</head>\n<body>\n<h1 id=\"firstHeading\">");
    out.push_str(&escape(&display));
    out.push_str("</h1>\n<p><b>");
    out.push_str(&escape(&display));
    out.push_str("</b> is a stub article of the dragnet test site. It exists so that following every link of a page does not end in errors.</p>\n<p>See the <a href=\"/wiki/Main_Page\" title=\"Main Page\">main page</a> or the <a href=\"/wiki/");
    out.push_str(list_enc);
    out.push_str(
        "\">list of countries and dependencies by population</a>.</p>\n</body>\n</html>\n",
    );
    out
}
