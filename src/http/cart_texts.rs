//! The words of the predicted cart's page in each language it speaks: English, German,
//! French, Spanish, Italian, Dutch, Polish and Portuguese. The page speaks the customer's
//! locale (`de-AT` is German), else the browser's first `Accept-Language`, else English.

/// One language's words; `{n}` stands for a number of days, `{name}` for a product.
#[derive(serde::Serialize)]
pub struct Texts {
    pub lang: &'static str,
    pub title: &'static str,
    pub intro: &'static str,
    pub caption: &'static str,
    pub product: &'static str,
    pub quantity: &'static str,
    pub quantity_of: &'static str,
    pub price: &'static str,
    pub total: &'static str,
    pub confirm: &'static str,
    pub remind_in: &'static str,
    pub enough: &'static str,
    pub confirmed: &'static str,
    pub postponed: &'static str,
    pub declined: &'static str,
    pub closed: &'static str,
    pub invalid_title: &'static str,
    pub invalid_body: &'static str,
}

const ALL: [Texts; 8] = [
    Texts {
        lang: "en",
        title: "Time to restock?",
        intro: "These products are running out soon. Change the quantities if you like, then tell us what to do.",
        caption: "Your cart",
        product: "Product",
        quantity: "Quantity",
        quantity_of: "Quantity of {name}",
        price: "Price",
        total: "Total",
        confirm: "Confirm",
        remind_in: "Remind me in {n} days",
        enough: "I have enough",
        confirmed: "Thank you! Your order is confirmed; we will call you shortly.",
        postponed: "We will remind you again in {n} days.",
        declined: "Noted: we will not remind you of these until your next order.",
        closed: "You have ordered these already. Thank you!",
        invalid_title: "This link is not valid",
        invalid_body: "It may have expired. Your next reminder will bring a new one.",
    },
    Texts {
        lang: "de",
        title: "Zeit zum Nachkaufen?",
        intro: "Diese Produkte gehen bald zur Neige. Ändern Sie bei Bedarf die Mengen und sagen Sie uns dann, was wir tun sollen.",
        caption: "Ihr Warenkorb",
        product: "Produkt",
        quantity: "Menge",
        quantity_of: "Menge von {name}",
        price: "Preis",
        total: "Summe",
        confirm: "Bestätigen",
        remind_in: "In {n} Tagen erinnern",
        enough: "Ich habe genug",
        confirmed: "Vielen Dank! Ihre Bestellung ist bestätigt; wir rufen Sie in Kürze an.",
        postponed: "Wir erinnern Sie in {n} Tagen wieder.",
        declined: "Notiert: Bis zu Ihrer nächsten Bestellung erinnern wir Sie nicht mehr daran.",
        closed: "Sie haben diese Produkte bereits bestellt. Vielen Dank!",
        invalid_title: "Dieser Link ist nicht gültig",
        invalid_body: "Er ist vielleicht abgelaufen. Ihre nächste Erinnerung bringt einen neuen.",
    },
    Texts {
        lang: "fr",
        title: "Il est temps de racheter ?",
        intro: "Ces produits seront bientôt épuisés. Modifiez les quantités si vous le souhaitez, puis dites-nous quoi faire.",
        caption: "Votre panier",
        product: "Produit",
        quantity: "Quantité",
        quantity_of: "Quantité de {name}",
        price: "Prix",
        total: "Total",
        confirm: "Confirmer",
        remind_in: "Me le rappeler dans {n} jours",
        enough: "J'en ai assez",
        confirmed: "Merci ! Votre commande est confirmée ; nous vous appellerons sous peu.",
        postponed: "Nous vous le rappellerons dans {n} jours.",
        declined: "C'est noté : nous ne vous le rappellerons pas avant votre prochaine commande.",
        closed: "Vous avez déjà commandé ces produits. Merci !",
        invalid_title: "Ce lien n'est pas valide",
        invalid_body: "Il a peut-être expiré. Votre prochain rappel en apportera un nouveau.",
    },
    Texts {
        lang: "es",
        title: "¿Es hora de reponer?",
        intro: "Estos productos se acabarán pronto. Cambia las cantidades si quieres y dinos qué hacer.",
        caption: "Tu carrito",
        product: "Producto",
        quantity: "Cantidad",
        quantity_of: "Cantidad de {name}",
        price: "Precio",
        total: "Total",
        confirm: "Confirmar",
        remind_in: "Recordármelo en {n} días",
        enough: "Tengo suficiente",
        confirmed: "¡Gracias! Tu pedido está confirmado; te llamaremos en breve.",
        postponed: "Te lo recordaremos de nuevo en {n} días.",
        declined: "Anotado: no te lo recordaremos hasta tu próximo pedido.",
        closed: "Ya has pedido estos productos. ¡Gracias!",
        invalid_title: "Este enlace no es válido",
        invalid_body: "Puede que haya caducado. Tu próximo recordatorio traerá uno nuevo.",
    },
    Texts {
        lang: "it",
        title: "È ora di fare scorta?",
        intro: "Questi prodotti stanno per finire. Cambia le quantità se vuoi, poi dicci cosa fare.",
        caption: "Il tuo carrello",
        product: "Prodotto",
        quantity: "Quantità",
        quantity_of: "Quantità di {name}",
        price: "Prezzo",
        total: "Totale",
        confirm: "Conferma",
        remind_in: "Ricordamelo tra {n} giorni",
        enough: "Ne ho abbastanza",
        confirmed: "Grazie! Il tuo ordine è confermato; ti chiameremo a breve.",
        postponed: "Te lo ricorderemo di nuovo tra {n} giorni.",
        declined: "Preso nota: non te lo ricorderemo fino al tuo prossimo ordine.",
        closed: "Hai già ordinato questi prodotti. Grazie!",
        invalid_title: "Questo link non è valido",
        invalid_body: "Potrebbe essere scaduto. Il prossimo promemoria ne porterà uno nuovo.",
    },
    Texts {
        lang: "nl",
        title: "Tijd om aan te vullen?",
        intro: "Deze producten raken binnenkort op. Pas de aantallen aan als je wilt en laat ons weten wat we moeten doen.",
        caption: "Je winkelwagen",
        product: "Product",
        quantity: "Aantal",
        quantity_of: "Aantal van {name}",
        price: "Prijs",
        total: "Totaal",
        confirm: "Bevestigen",
        remind_in: "Herinner me over {n} dagen",
        enough: "Ik heb genoeg",
        confirmed: "Bedankt! Je bestelling is bevestigd; we bellen je binnenkort.",
        postponed: "We herinneren je over {n} dagen opnieuw.",
        declined: "Genoteerd: we herinneren je hier niet meer aan tot je volgende bestelling.",
        closed: "Je hebt deze producten al besteld. Bedankt!",
        invalid_title: "Deze link is niet geldig",
        invalid_body: "Hij is misschien verlopen. Je volgende herinnering brengt een nieuwe.",
    },
    Texts {
        lang: "pl",
        title: "Czas uzupełnić zapasy?",
        intro: "Te produkty wkrótce się skończą. Zmień ilości, jeśli chcesz, i powiedz nam, co zrobić.",
        caption: "Twój koszyk",
        product: "Produkt",
        quantity: "Ilość",
        quantity_of: "Ilość: {name}",
        price: "Cena",
        total: "Razem",
        confirm: "Potwierdzam",
        remind_in: "Przypomnij za {n} dni",
        enough: "Mam wystarczająco",
        confirmed: "Dziękujemy! Zamówienie jest potwierdzone; wkrótce zadzwonimy.",
        postponed: "Przypomnimy ponownie za {n} dni.",
        declined: "Zapisane: nie będziemy przypominać aż do następnego zamówienia.",
        closed: "Te produkty są już zamówione. Dziękujemy!",
        invalid_title: "Ten link jest nieważny",
        invalid_body: "Mógł wygasnąć. Następne przypomnienie przyniesie nowy.",
    },
    Texts {
        lang: "pt",
        title: "Hora de repor?",
        intro: "Estes produtos vão acabar em breve. Altere as quantidades se quiser e diga-nos o que fazer.",
        caption: "O seu carrinho",
        product: "Produto",
        quantity: "Quantidade",
        quantity_of: "Quantidade de {name}",
        price: "Preço",
        total: "Total",
        confirm: "Confirmar",
        remind_in: "Lembrar-me daqui a {n} dias",
        enough: "Tenho o suficiente",
        confirmed: "Obrigado! A sua encomenda está confirmada; vamos ligar-lhe em breve.",
        postponed: "Voltaremos a lembrá-lo daqui a {n} dias.",
        declined: "Anotado: não lhe lembraremos disto até à sua próxima encomenda.",
        closed: "Já encomendou estes produtos. Obrigado!",
        invalid_title: "Esta ligação não é válida",
        invalid_body: "Pode ter expirado. O seu próximo lembrete trará uma nova.",
    },
];

/// The words for the customer's `locale`, else the first language of `accept_language`, else
/// English.
pub fn texts_for(locale: Option<&str>, accept_language: Option<&str>) -> &'static Texts {
    let first_accepted = accept_language
        .and_then(|header| header.split(',').next())
        .map(|tag| tag.split(';').next().unwrap_or_default());
    [locale, first_accepted]
        .into_iter()
        .flatten()
        .find_map(language)
        .unwrap_or(&ALL[0])
}

/// The texts of a locale tag's language (`pt-BR` → Portuguese), if the page speaks it.
fn language(tag: &str) -> Option<&'static Texts> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    ALL.iter().find(|t| t.lang == primary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_customers_locale_comes_first_then_the_browsers_then_english() {
        assert_eq!(texts_for(Some("de-AT"), Some("fr")).lang, "de");
        assert_eq!(texts_for(Some("ja"), Some("pt-BR,en;q=0.8")).lang, "pt");
        assert_eq!(texts_for(None, Some("pl_PL;q=1")).lang, "pl");
        assert_eq!(texts_for(None, None).lang, "en");
        assert_eq!(texts_for(Some("xx"), Some("*")).lang, "en");
    }

    #[test]
    fn every_language_keeps_the_placeholders() {
        for t in &ALL {
            assert!(t.quantity_of.contains("{name}"), "{}", t.lang);
            assert!(t.remind_in.contains("{n}"), "{}", t.lang);
            assert!(t.postponed.contains("{n}"), "{}", t.lang);
        }
    }
}
