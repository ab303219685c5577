/* compose_kinds: the content of each kind of certificate, from the answers
 * of the registries (their shapes: adapters/NAME/README.md). Each builder
 * checks every answer it uses and every key it reads; a missing or odd key
 * is a refusal, never a gap in a certificate. Rows are in Russian, the
 * titles in Kyrgyz and Russian; "facts" keep the values machine-readable. */
#include "adapters/certificates/compose_int.h"
#include "adapters/certificates/certdoc.h"

#include <stdio.h>
#include <string.h>

#define ROWS_OR_FAIL(rows, b, name, title)                      \
	do {                                                    \
		if (((rows) = cb_section((b), (name), (title))) == NULL) \
			return -1;                        \
	} while (0)

/* ---- words -------------------------------------------------------------- */

static const char *ru_plural(long long n, const char *one, const char *few, const char *many)
{
	long long m100 = n % 100, m10 = n % 10;

	if (m100 >= 11 && m100 <= 14)
		return many;
	return m10 == 1 ? one : m10 >= 2 && m10 <= 4 ? few : many;
}

static const char *code_ru(const char *code, const char *const (*map)[2], size_t n)
{
	for (size_t i = 0; code && i < n; i++)
		if (strcmp(code, map[i][0]) == 0)
			return map[i][1];
	return code ? code : "";
}

static const char *const right_types[][2] = {
	{ "ownership", "собственность" }, { "lease", "аренда" }, { "use", "пользование" },
};
static const char *const encumbrance_types[][2] = {
	{ "mortgage", "ипотека" }, { "arrest", "арест" }, { "lease", "аренда" }, { "easement", "сервитут" },
};
static const char *const utility_services[][2] = {
	{ "water", "питьевая вода" }, { "waste", "вывоз мусора" }, { "irrigation", "поливная вода" },
};
static const char *const missing_words[][2] = {
	{ "pin", "ПИН" }, { "document", "документа" }, { "birth_date", "даты рождения" }, { "sex", "пола" },
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the household ------------------------------------------------------- */

/* The member of a household answer who is the subject (by PIN or by
 * document), or NULL. */
static json_t *subject_member(const struct cb *b, const json_t *members)
{
	const struct compose_subject *s = &b->rq->subject;
	size_t i;
	json_t *m;

	json_array_foreach(members, i, m) {
		const char *pin = json_string_value(json_object_get(m, "pin"));
		const char *cit = json_string_value(json_object_get(m, "citizenship"));
		const char *num = json_string_value(json_object_get(json_object_get(m, "document"), "number"));
		if (s->pin[0] ? pin && strcmp(pin, s->pin) == 0 :
				cit && num && strcmp(cit, s->citizenship) == 0 && strcmp(num, s->document) == 0)
			return m;
	}
	return NULL;
}

/* The subject in the household answer: the same person as the population
 * registry says (PIN), or the person himself (by document). Sets *member. */
static int household_subject(struct cb *b, const json_t *members, json_t **member)
{
	const char *last, *first;

	*member = subject_member(b, members);
	if (!*member)
		return cb_refuse(b, ADAPTER_FAILED, "No certificate was issued: the household register "
				 "answered with a household that does not list you; ask the ayil okmotu to "
				 "check the record.");
	if (!b->rq->subject.pin[0])
		return cb_person_from_member(b, CQ_HOUSEHOLD, *member);
	if (cb_str(b, CQ_HOUSEHOLD, *member, "last_name", &last) ||
	    cb_str(b, CQ_HOUSEHOLD, *member, "first_name", &first))
		return -1;
	return cb_same_person(b, CQ_HOUSEHOLD, last, first);
}

/* The address rows and facts of a household (or address-fact) answer. */
static int household_place(struct cb *b, enum compose_role r, const json_t *d, json_t *rows)
{
	const char *hid, *cad;
	json_t *addr;
	int registered;
	char line[512];

	if (cb_str(b, r, d, "household_id", &hid) || cb_obj(b, r, d, "address", &addr) ||
	    cb_str_or_null(b, r, d, "cadastral_code", &cad) || cb_bool(b, r, d, "house_registered", &registered))
		return -1;
	cb_address_line(addr, line, sizeof(line));
	if (cb_fact(b, "household_id", json_string(hid)) || cb_fact(b, "address", cb_copy(addr)) ||
	    cb_fact(b, "address_line", json_string(line)) ||
	    cb_fact(b, "cadastral_code", cad ? json_string(cad) : json_null()) ||
	    cb_fact(b, "house_registered", json_boolean(registered)))
		return -1;
	if (cb_row(b, rows, "address", "Адрес", "%s", line) || cb_row(b, rows, "household_id", "Хозяйство (похозяйственная книга)", "%s", hid))
		return -1;
	if (registered && cad)
		return cb_row(b, rows, "cadastral_code", "Кадастровый код дома", "%s", cad);
	return cb_row(b, rows, "cadastral_code", "Кадастровый код дома", "нет: дом не зарегистрирован в кадастре");
}

/* "; запись неполная: нет ПИН, даты рождения" into out (or ""). */
static void missing_text(const json_t *missing, int digitised, char *out, size_t cap)
{
	size_t i, n = 0;
	json_t *v;

	out[0] = '\0';
	json_array_foreach(missing, i, v) {
		if (n >= cap)
			break;
		n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? ", " : "; запись неполная: нет ",
				      code_ru(json_string_value(v), missing_words, N_OF(missing_words)));
	}
	if (!digitised && n < cap)
		snprintf(out + n, cap - n, " (свидетельство о рождении не оцифровано)");
}

static int member_row(struct cb *b, json_t *rows, json_t *facts, size_t i, const json_t *m)
{
	const enum compose_role r = CQ_HOUSEHOLD;
	const char *last, *first, *patr, *born, *pin, *rel, *rel_ru, *cit, *num = NULL;
	json_t *doc, *missing, *f;
	int digitised;
	char label[320], fname[32], ident[96], miss[256];

	if (cb_str(b, r, m, "last_name", &last) || cb_str(b, r, m, "first_name", &first) ||
	    cb_str_or_null(b, r, m, "patronymic", &patr) || cb_str_or_null(b, r, m, "birth_date", &born) ||
	    cb_str_or_null(b, r, m, "pin", &pin) || cb_str(b, r, m, "relation", &rel) ||
	    cb_str(b, r, m, "relation_ru", &rel_ru) || cb_str(b, r, m, "citizenship", &cit) ||
	    cb_obj_or_null(b, r, m, "document", &doc) || cb_bool(b, r, m, "birth_record_digitised", &digitised) ||
	    cb_arr(b, r, m, "missing_fields", &missing))
		return -1;
	if (doc && cb_str(b, r, doc, "number", &num))
		return -1;
	snprintf(label, sizeof(label), "%zu. %s %s%s%s", i + 1, last, first, patr ? " " : "", patr ? patr : "");
	snprintf(fname, sizeof(fname), "member.%zu", i + 1);
	if (pin)
		snprintf(ident, sizeof(ident), ", ПИН %s", pin);
	else if (num)
		snprintf(ident, sizeof(ident), ", документ %s %s", cit, num);
	else
		ident[0] = '\0';
	missing_text(missing, digitised, miss, sizeof(miss));
	if (cb_row(b, rows, fname, label, "%s, %s%s%s", rel_ru, born ? born : "дата рождения не указана", ident, miss))
		return -1;
	f = json_pack("{s:s,s:s,s:s,s:o,s:o,s:s,s:o,s:b,s:o}", "name", label + strcspn(label, " ") + 1,
		      "relation", rel, "relation_ru", rel_ru, "birth_date", born ? json_string(born) : json_null(),
		      "pin", pin ? json_string(pin) : json_null(), "citizenship", cit,
		      "document", num ? json_string(num) : json_null(), "record_complete",
		      json_array_size(missing) == 0 && digitised, "missing_fields", json_deep_copy(missing));
	if (!f || json_array_append_new(facts, f) != 0)
		return cb_oom(b);
	return 0;
}

int cb_household(struct cb *b)
{
	const enum compose_role r = CQ_HOUSEHOLD;
	const json_t *d;
	json_t *members, *me, *rows, *facts, *m;
	char title[64];
	size_t i;

	if ((b->rq->subject.pin[0] && cb_identity(b)) || cb_need(b, r))
		return -1;
	d = b->ans[r].data;
	if (cb_arr(b, r, d, "members", &members) || household_subject(b, members, &me))
		return -1;
	ROWS_OR_FAIL(rows, b, "household", "Хозяйство");
	if (household_place(b, r, d, rows))
		return -1;
	if (json_array_size(members) > CERTDOC_SECTION_FIELDS_MAX)
		return cb_refuse(b, ADAPTER_FAILED, "The household register lists %zu members in this "
				 "household, more than the %d an electronic certificate can hold, so none "
				 "was issued: the AIL OKMOTU issues this certificate on paper.",
				 json_array_size(members), CERTDOC_SECTION_FIELDS_MAX);
	snprintf(title, sizeof(title), "Состав семьи (%zu чел.)", json_array_size(members));
	ROWS_OR_FAIL(rows, b, "members", title);
	if ((facts = json_array()) == NULL || cb_fact(b, "members", facts))
		return -1;
	json_array_foreach(members, i, m)
		if (member_row(b, rows, facts, i, m))
			return -1;
	return cb_fact(b, "member_count", json_integer((json_int_t)json_array_size(members)));
}

/* ---- place of residence -------------------------------------------------- */

int cb_residence(struct cb *b)
{
	enum compose_role r = b->rq->subject.pin[0] ? CQ_ADDRESS : CQ_HOUSEHOLD;
	const json_t *d;
	const char *last, *first, *since;
	json_t *rows, *members, *me = NULL;

	if (b->rq->subject.pin[0] && cb_identity(b))
		return -1;
	if (cb_need(b, r))
		return -1;
	d = b->ans[r].data;
	if (r == CQ_ADDRESS) {
		if (cb_str(b, r, d, "last_name", &last) || cb_str(b, r, d, "first_name", &first) ||
		    cb_same_person(b, r, last, first) || cb_str_or_null(b, r, d, "registered_on", &since))
			return -1;
	} else if (cb_arr(b, r, d, "members", &members) || household_subject(b, members, &me) ||
		   cb_str_or_null(b, r, me, "registered_on", &since)) {
		return -1;
	}
	ROWS_OR_FAIL(rows, b, "residence", "Место жительства");
	if (household_place(b, r, d, rows) ||
	    cb_fact(b, "registered_on", since ? json_string(since) : json_null()))
		return -1;
	return cb_row(b, rows, "registered_on", "Зарегистрирован(а) по этому адресу с", "%s", since ? since : "дата не указана");
}

/* ---- livestock ------------------------------------------------------------ */

/* The holding's data must be dated, and not older than the configured age. */
static int holding_fresh(struct cb *b, const char *hid, const char *updated, long long *age)
{
	long day;

	if (!updated || params_date_parse(updated, &day) != 0 || day > b->rq->today.days)
		return cb_refuse(b, ADAPTER_NOT_IN_REGISTER, "The veterinary registry's record of your "
				 "livestock (household %s) has no reliable date of its last update, so it "
				 "cannot be certified. No certificate was issued: ask the veterinary service "
				 "to update the record, then request it again.", hid);
	*age = b->rq->today.days - day;
	if (*age > b->rq->vet_max_age_days)
		return cb_refuse(b, ADAPTER_NOT_IN_REGISTER, "The veterinary registry's data on your "
				 "livestock (household %s) were last updated on %s, %lld days ago; a livestock "
				 "certificate needs data updated within the last %ld days. No certificate "
				 "was issued: ask the veterinary service to update the record, then request "
				 "it again.", hid, updated, *age, b->rq->vet_max_age_days);
	return 0;
}

/* The holding is the subject's: by PIN (and the name the population
 * registry gives), or by document. */
static int holding_owner(struct cb *b, const json_t *h, const char *hid)
{
	const enum compose_role r = CQ_LIVESTOCK;
	const char *pin, *name, *cit, *num = NULL;
	json_t *owner, *doc;

	if (cb_obj(b, r, h, "owner", &owner) || cb_str_or_null(b, r, owner, "pin", &pin) ||
	    cb_str(b, r, owner, "name", &name) || cb_str_or_null(b, r, owner, "citizenship", &cit) ||
	    cb_obj_or_null(b, r, owner, "document", &doc) || (doc && cb_str(b, r, doc, "number", &num)))
		return -1;
	if (b->rq->subject.pin[0]) {
		if (!pin || strcmp(pin, b->rq->subject.pin) != 0)
			return cb_refuse(b, ADAPTER_FAILED, "No certificate was issued: the veterinary "
					 "registry answered with a holding (household %s) registered to "
					 "someone else.", hid);
		if (strcmp(name, b->who.name) != 0)
			return cb_refuse(b, ADAPTER_FAILED, "The population registry and the veterinary "
					 "registry disagree about the owner with PIN %s ('%.120s' and "
					 "'%.120s'), so no certificate was issued; ask the veterinary service "
					 "to correct the record.", b->rq->subject.pin, b->who.name, name);
		return 0;
	}
	if (!cit || !num || strcmp(cit, b->rq->subject.citizenship) != 0 || strcmp(num, b->rq->subject.document) != 0)
		return cb_refuse(b, ADAPTER_NOT_IN_REGISTER, "The veterinary registry has no livestock "
				 "registered to you: the holding of your household %s is registered to "
				 "%.120s. A livestock certificate is only issued to the registered owner.",
				 hid, name);
	return 0;
}

static int species_rows(struct cb *b, const json_t *records, json_t *rows, json_t *out)
{
	const enum compose_role r = CQ_LIVESTOCK;
	const char *sp, *sp_ru, *sp_ky;
	long long heads;
	json_t *tags, *rec, *f;
	size_t i;

	json_array_foreach(records, i, rec) {
		if (cb_str(b, r, rec, "species", &sp) || cb_str(b, r, rec, "species_ru", &sp_ru) ||
		    cb_str(b, r, rec, "species_ky", &sp_ky) || cb_int(b, r, rec, "head_count", &heads) ||
		    cb_arr(b, r, rec, "tag_ids", &tags))
			return -1;
		if (json_array_size(tags) > 0 ?
			    cb_row(b, rows, sp, sp_ru, "%lld %s (с бирками: %zu)", heads,
				   ru_plural(heads, "голова", "головы", "голов"), json_array_size(tags)) :
			    cb_row(b, rows, sp, sp_ru, "%lld %s", heads, ru_plural(heads, "голова", "головы", "голов")))
			return -1;
		f = json_pack("{s:s,s:s,s:s,s:I,s:I}", "species", sp, "species_ru", sp_ru, "species_ky", sp_ky,
			      "head_count", (json_int_t)heads, "tagged", (json_int_t)json_array_size(tags));
		if (!f || json_array_append_new(out, f) != 0)
			return cb_oom(b);
	}
	return 0;
}

static int holding(struct cb *b, const json_t *h, json_t *facts, long long *total)
{
	const enum compose_role r = CQ_LIVESTOCK;
	const char *hid, *updated, *since;
	long long heads, age = 0;
	json_t *records, *rows, *sp, *f;
	char title[96], name[64];

	if (cb_str(b, r, h, "household_id", &hid) || cb_str_or_null(b, r, h, "registered_on", &since) ||
	    cb_str_or_null(b, r, h, "last_updated", &updated) || cb_int(b, r, h, "total_head_count", &heads) ||
	    cb_arr(b, r, h, "records", &records) || holding_owner(b, h, hid) ||
	    holding_fresh(b, hid, updated, &age))
		return -1;
	snprintf(title, sizeof(title), "Скот хозяйства %s", hid);
	snprintf(name, sizeof(name), "livestock.%s", hid);
	ROWS_OR_FAIL(rows, b, name, title);
	if ((sp = json_array()) == NULL)
		return cb_oom(b);
	f = json_pack("{s:s,s:o,s:s,s:I,s:I,s:o}", "household_id", hid, "registered_on",
		      since ? json_string(since) : json_null(), "last_updated", updated, "data_age_days",
		      (json_int_t)age, "total_head_count", (json_int_t)heads, "records", sp);
	if (!f || json_array_append_new(facts, f) != 0)
		return cb_oom(b);
	if (json_array_size(records) == 0 && cb_row(b, rows, "livestock", "Скот", "не числится"))
		return -1;
	if (species_rows(b, records, rows, sp) || cb_row(b, rows, "total_head_count", "Всего голов", "%lld", heads) ||
	    cb_row(b, rows, "last_updated", "Данные ветеринарного реестра обновлены", "%s (%lld %s назад)", updated, age,
		   ru_plural(age, "день", "дня", "дней")))
		return -1;
	*total += heads;
	return 0;
}

int cb_livestock(struct cb *b)
{
	const enum compose_role r = CQ_LIVESTOCK;
	const json_t *d;
	json_t *holdings, *facts, *h, *members, *me;
	long long total = 0;
	size_t i;

	if (b->rq->subject.pin[0]) {
		if (cb_identity(b) || cb_need(b, r))
			return -1;
	} else if (cb_need(b, CQ_HOUSEHOLD) ||
		   cb_arr(b, CQ_HOUSEHOLD, b->ans[CQ_HOUSEHOLD].data, "members", &members) ||
		   household_subject(b, members, &me) || cb_need(b, r)) {
		return -1;
	}
	d = b->ans[r].data;
	if (b->rq->subject.pin[0]) {
		if (cb_arr(b, r, d, "holdings", &holdings))
			return -1;
		if (json_array_size(holdings) == 0)
			return cb_refuse(b, ADAPTER_NOT_IN_REGISTER, "The veterinary registry has no data "
					 "on your livestock. A livestock certificate is never issued on "
					 "missing data.");
	}
	if ((facts = json_array()) == NULL || cb_fact(b, "holdings", facts))
		return -1;
	if (!b->rq->subject.pin[0]) {
		if (holding(b, d, facts, &total))
			return -1;
	} else {
		json_array_foreach(holdings, i, h)
			if (holding(b, h, facts, &total))
				return -1;
	}
	return cb_fact(b, "total_head_count", json_integer(total)) ||
	       cb_fact(b, "max_age_days", json_integer(b->rq->vet_max_age_days)) ? -1 : 0;
}

/* ---- land and property ----------------------------------------------------- */

static int rights_text(struct cb *b, const json_t *rights, char *out, size_t cap, json_t *facts)
{
	const enum compose_role r = CQ_PROPERTY;
	const char *type, *share, *since;
	json_t *rt, *f;
	size_t i, n = 0;

	out[0] = '\0';
	json_array_foreach(rights, i, rt) {
		if (cb_str(b, r, rt, "right_type", &type) || cb_str_or_null(b, r, rt, "share", &share) ||
		    cb_str_or_null(b, r, rt, "registered_on", &since))
			return -1;
		if (n < cap)
			n += (size_t)snprintf(out + n, cap - n, "%s%s%s%s%s%s", n ? "; " : "",
					      code_ru(type, right_types, N_OF(right_types)), share ? ", доля " : "",
					      share ? share : "", since ? ", с " : "", since ? since : "");
		f = json_pack("{s:s,s:o,s:o}", "right_type", type, "share", share ? json_string(share) : json_null(),
			      "registered_on", since ? json_string(since) : json_null());
		if (!f || json_array_append_new(facts, f) != 0)
			return cb_oom(b);
	}
	return 0;
}

static int encumbrance_text(struct cb *b, const json_t *encs, char *out, size_t cap, json_t *facts)
{
	const enum compose_role r = CQ_PROPERTY;
	const char *type, *holder, *until;
	json_t *e, *f;
	size_t i, n = 0;

	snprintf(out, cap, "нет");
	json_array_foreach(encs, i, e) {
		if (cb_str(b, r, e, "type", &type) || cb_str(b, r, e, "holder", &holder) ||
		    cb_str_or_null(b, r, e, "valid_until", &until))
			return -1;
		if (n < cap)
			n += (size_t)snprintf(out + n, cap - n, "%s%s (%s), %s%s", n ? "; " : "",
					      code_ru(type, encumbrance_types, N_OF(encumbrance_types)), holder,
					      until ? "до " : "до снятия", until ? until : "");
		f = json_pack("{s:s,s:s,s:o}", "type", type, "holder", holder, "valid_until",
			      until ? json_string(until) : json_null());
		if (!f || json_array_append_new(facts, f) != 0)
			return cb_oom(b);
	}
	return 0;
}

static int property_section(struct cb *b, const json_t *p, json_t *facts)
{
	const enum compose_role r = CQ_PROPERTY;
	const char *eni, *dashed, *type, *type_ru, *purpose_ru, *land, *building;
	json_t *addr, *rights, *encs, *rows, *f, *rf, *ef;
	char title[128], name[64], line[512], rtext[512], etext[512];

	if (cb_str(b, r, p, "eni", &eni) || cb_str(b, r, p, "eni_dashed", &dashed) ||
	    cb_str(b, r, p, "type", &type) || cb_str(b, r, p, "type_ru", &type_ru) ||
	    cb_str(b, r, p, "purpose_ru", &purpose_ru) || cb_obj(b, r, p, "address", &addr) ||
	    cb_str_or_null(b, r, p, "land_area_m2", &land) || cb_str_or_null(b, r, p, "building_area_m2", &building) ||
	    cb_arr(b, r, p, "rights", &rights) || cb_arr(b, r, p, "encumbrances", &encs))
		return -1;
	rf = json_array();
	ef = json_array();
	if (!rf || !ef) {
		json_decref(rf);
		json_decref(ef);
		return cb_oom(b);
	}
	/* json_pack takes the references of "o" values, also when it fails. */
	f = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "eni", eni, "eni_dashed", dashed, "type", type,
		      "type_ru", type_ru, "address", cb_copy(addr), "land_area_m2",
		      land ? json_string(land) : json_null(), "building_area_m2",
		      building ? json_string(building) : json_null(), "rights", rf, "encumbrances", ef);
	if (!f || json_array_append_new(facts, f) != 0)
		return cb_oom(b);
	if (rights_text(b, rights, rtext, sizeof(rtext), rf) || encumbrance_text(b, encs, etext, sizeof(etext), ef))
		return -1;
	cb_address_line(addr, line, sizeof(line));
	snprintf(title, sizeof(title), "%s, ЕНИ %s", type_ru, dashed);
	snprintf(name, sizeof(name), "property.%s", eni);
	ROWS_OR_FAIL(rows, b, name, title);
	if (cb_row(b, rows, "address", "Адрес", "%s", line) || cb_row(b, rows, "purpose", "Назначение", "%s", purpose_ru) ||
	    (land && cb_row(b, rows, "land_area_m2", "Площадь участка, м²", "%s", land)) ||
	    (building && cb_row(b, rows, "building_area_m2", "Площадь строения, м²", "%s", building)) ||
	    cb_row(b, rows, "rights", "Право", "%s", rtext) || cb_row(b, rows, "encumbrances", "Обременения", "%s", etext))
		return -1;
	return 0;
}

int cb_property(struct cb *b)
{
	const enum compose_role r = CQ_PROPERTY;
	const json_t *d;
	json_t *props, *p, *facts, *rows, *members, *me;
	int owns;
	size_t i, shown = 0;

	if (b->rq->subject.pin[0] ? cb_identity(b) :
				    cb_need(b, CQ_HOUSEHOLD) ||
				    cb_arr(b, CQ_HOUSEHOLD, b->ans[CQ_HOUSEHOLD].data, "members", &members) ||
				    household_subject(b, members, &me))
		return -1;
	if (cb_need(b, r))
		return -1;
	d = b->ans[r].data;
	if (cb_bool(b, r, d, "owns_property", &owns) || cb_arr(b, r, d, "properties", &props))
		return -1;
	if ((facts = json_array()) == NULL || cb_fact(b, "properties", facts))
		return -1;
	json_array_foreach(props, i, p) {
		const char *eni = json_string_value(json_object_get(p, "eni"));
		if (b->rq->eni[0] && (!eni || strcmp(eni, b->rq->eni) != 0))
			continue;
		if (property_section(b, p, facts))
			return -1;
		shown++;
	}
	if (b->rq->eni[0] && shown == 0)
		return cb_refuse(b, ADAPTER_NOT_FOUND, "The cadastre records no right of yours on the "
				 "property with ENI %s, so no certificate about it was issued.", b->rq->eni);
	if (cb_fact(b, "owns_property", json_boolean(owns)) ||
	    cb_fact(b, "property_count", json_integer((json_int_t)shown)) ||
	    cb_fact(b, "eni", b->rq->eni[0] ? json_string(b->rq->eni) : json_null()))
		return -1;
	if (shown > 0)
		return 0;
	ROWS_OR_FAIL(rows, b, "cadastre", "Сведения кадастра");
	return cb_row(b, rows, "property", "Недвижимое имущество", "прав на недвижимое имущество не зарегистрировано");
}

/* ---- social category --------------------------------------------------------- */

static int basis_row(struct cb *b, json_t *rows, const json_t *basis)
{
	const enum compose_role r = CQ_CATEGORY;
	const char *doc, *num, *date, *by;

	if (!basis)
		return 0;
	if (cb_str(b, r, basis, "document", &doc) || cb_str_or_null(b, r, basis, "number", &num) ||
	    cb_str_or_null(b, r, basis, "date", &date) || cb_str_or_null(b, r, basis, "issued_by", &by))
		return -1;
	return cb_row(b, rows, "basis", "Основание", "%s%s%s%s%s%s%s", doc, num ? " № " : "", num ? num : "",
		      date ? " от " : "", date ? date : "", by ? ", " : "", by ? by : "");
}

int cb_social_category(struct cb *b)
{
	const enum compose_role r = CQ_CATEGORY;
	const json_t *d;
	const char *last, *first, *cat, *cat_ru, *cat_ky, *on, *since, *until, *group, *cause;
	json_t *rows, *basis;
	int in;

	if (cb_identity(b) || cb_need(b, r))
		return -1;
	d = b->ans[r].data;
	if (cb_str(b, r, d, "last_name", &last) || cb_str(b, r, d, "first_name", &first) ||
	    cb_same_person(b, r, last, first) || cb_str(b, r, d, "category", &cat) ||
	    cb_str(b, r, d, "category_ru", &cat_ru) || cb_str(b, r, d, "category_ky", &cat_ky) ||
	    cb_str(b, r, d, "on", &on) || cb_bool(b, r, d, "in_category", &in) ||
	    cb_str_or_null(b, r, d, "since", &since) || cb_str_or_null(b, r, d, "until", &until) ||
	    cb_str_or_null(b, r, d, "disability_group", &group) || cb_str_or_null(b, r, d, "cause_ru", &cause) ||
	    cb_obj_or_null(b, r, d, "basis", &basis))
		return -1;
	if (cb_fact(b, "category", json_string(cat)) || cb_fact(b, "category_ru", json_string(cat_ru)) ||
	    cb_fact(b, "category_ky", json_string(cat_ky)) || cb_fact(b, "on", json_string(on)) ||
	    cb_fact(b, "in_category", json_boolean(in)) ||
	    cb_fact(b, "since", since ? json_string(since) : json_null()) ||
	    cb_fact(b, "until", until ? json_string(until) : json_null()) ||
	    cb_fact(b, "disability_group", group ? json_string(group) : json_null()) ||
	    cb_fact(b, "basis", cb_copy(basis)))
		return -1;
	ROWS_OR_FAIL(rows, b, "social_category", "Социальная категория");
	if (cb_row(b, rows, "category", "Категория", "%s", cat_ru) ||
	    cb_row(b, rows, "status", "Статус", "на %s %s", on, in ? "состоит в категории" : "не состоит в категории"))
		return -1;
	if (!in)
		return 0;
	if (cb_row(b, rows, "since", "Состоит с", "%s", since ? since : "дата не указана") ||
	    cb_row(b, rows, "until", "По", "%s", until ? until : "срок не установлен") ||
	    (group && cb_row(b, rows, "disability_group", "Группа инвалидности", "%s", group)) ||
	    (cause && cb_row(b, rows, "cause", "Причина", "%s", cause)))
		return -1;
	return basis_row(b, rows, basis);
}

/* ---- utility debt -------------------------------------------------------------- */

static int debt_accounts(struct cb *b, const json_t *accounts, json_t *rows, json_t *facts, char *owed,
			 size_t cap)
{
	const enum compose_role r = CQ_DEBT;
	const char *num, *svc, *ent, *status, *debt_som, *credit_som;
	long long debt, credit;
	json_t *a, *f;
	size_t i, n = 0;
	char cname[64];

	owed[0] = '\0';
	json_array_foreach(accounts, i, a) {
		if (cb_str(b, r, a, "account_number", &num) || cb_str(b, r, a, "service", &svc) ||
		    cb_str(b, r, a, "enterprise", &ent) || cb_str(b, r, a, "status", &status) ||
		    cb_int(b, r, a, "debt_tyiyn", &debt) || cb_str(b, r, a, "debt_som", &debt_som) ||
		    cb_int(b, r, a, "credit_tyiyn", &credit) || cb_str(b, r, a, "credit_som", &credit_som))
			return -1;
		snprintf(cname, sizeof(cname), "credit.%s", num);
		if (debt > 0 && n < cap)
			n += (size_t)snprintf(owed + n, cap - n, "%s%s %s: %s som", n ? "; " : "", num, ent, debt_som);
		f = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "account_number", num, "service", svc, "enterprise", ent,
			      "status", status, "debt_som", debt_som, "credit_som", credit_som);
		if (!f || json_array_append_new(facts, f) != 0)
			return cb_oom(b);
		if (cb_row(b, rows, num, num, "%s (%s, %s): %s", code_ru(svc, utility_services, N_OF(utility_services)),
			   ent, strcmp(status, "closed") == 0 ? "счёт закрыт" : "счёт открыт",
			   debt > 0 ? "задолженность" : credit > 0 ? "задолженности нет, переплата" :
			   "задолженности нет") ||
		    (credit > 0 && cb_row(b, rows, cname, "Переплата, сом", "%s", credit_som)))
			return -1;
	}
	return 0;
}

int cb_no_debt(struct cb *b)
{
	const enum compose_role r = CQ_DEBT;
	const json_t *d;
	const char *hid, *dhid, *on, *through, *debt_som, *last_paid;
	json_t *members, *me, *accounts, *rows, *facts;
	long long debt;
	int has_debt;
	char owed[400];

	if ((b->rq->subject.pin[0] && cb_identity(b)) || cb_need(b, CQ_HOUSEHOLD) ||
	    cb_arr(b, CQ_HOUSEHOLD, b->ans[CQ_HOUSEHOLD].data, "members", &members) ||
	    household_subject(b, members, &me) ||
	    cb_str(b, CQ_HOUSEHOLD, b->ans[CQ_HOUSEHOLD].data, "household_id", &hid) || cb_need(b, r))
		return -1;
	d = b->ans[r].data;
	if (cb_str(b, r, d, "household_id", &dhid) || cb_str(b, r, d, "on", &on) ||
	    cb_str_or_null(b, r, d, "accruals_through", &through) || cb_bool(b, r, d, "has_debt", &has_debt) ||
	    cb_int(b, r, d, "total_debt_tyiyn", &debt) || cb_str(b, r, d, "total_debt_som", &debt_som) ||
	    cb_str_or_null(b, r, d, "last_payment_date", &last_paid) || cb_arr(b, r, d, "accounts", &accounts))
		return -1;
	if (strcmp(dhid, hid) != 0)
		return cb_refuse(b, ADAPTER_FAILED, "No certificate was issued: utility billing answered "
				 "for household %.40s instead of %s.", dhid, hid);
	if ((facts = json_array()) == NULL || cb_fact(b, "accounts", facts))
		return -1;
	ROWS_OR_FAIL(rows, b, "utilities", "Коммунальные услуги");
	if (cb_row(b, rows, "household_id", "Хозяйство", "%s", hid) || cb_row(b, rows, "on", "На дату", "%s", on) ||
	    debt_accounts(b, accounts, rows, facts, owed, sizeof(owed)))
		return -1;
	if (has_debt || debt != 0)
		return cb_refuse(b, ADAPTER_INVALID_INPUT, "Utility billing records a debt of %s som for your "
				 "household %s on %s (%s), so a certificate of no utility debt cannot be "
				 "issued. After paying, request it again.", debt_som, hid, on, owed);
	if (cb_fact(b, "household_id", json_string(hid)) || cb_fact(b, "on", json_string(on)) ||
	    cb_fact(b, "has_debt", json_false()) ||
	    cb_fact(b, "accruals_through", through ? json_string(through) : json_null()) ||
	    cb_fact(b, "last_payment_date", last_paid ? json_string(last_paid) : json_null()) ||
	    cb_fact(b, "account_count", json_integer((json_int_t)json_array_size(accounts))))
		return -1;
	if (json_array_size(accounts) == 0 && cb_row(b, rows, "accounts", "Лицевые счета", "нет"))
		return -1;
	return cb_row(b, rows, "debt", "Задолженность за коммунальные услуги", "нет") ||
	       cb_row(b, rows, "accruals_through", "Начисления учтены по (месяц)", "%s", through ? through : "начислений нет") ? -1 : 0;
}

/* ---- employment ------------------------------------------------------------------ */

/* The date of the last dismissal in moves, or NULL. */
static const char *last_dismissal(const json_t *moves)
{
	const char *when = NULL;
	size_t i;
	json_t *m;

	json_array_foreach(moves, i, m) {
		const char *kind = json_string_value(json_object_get(m, "kind"));
		if (kind && strcmp(kind, "dismissal") == 0)
			when = json_string_value(json_object_get(m, "date"));
	}
	return when;
}

static int position_rows(struct cb *b, const json_t *pos, json_t *rows)
{
	const enum compose_role r = CQ_EMPLOYEE;
	const char *p, *p_ru, *dep_ru, *since;

	if (!pos)
		return 0;
	if (cb_str(b, r, pos, "position", &p) || cb_str(b, r, pos, "position_ru", &p_ru) ||
	    cb_str(b, r, pos, "department_ru", &dep_ru) || cb_str(b, r, pos, "since", &since))
		return -1;
	if (cb_fact(b, "position", json_string(p)) || cb_fact(b, "position_ru", json_string(p_ru)) ||
	    cb_fact(b, "department_ru", json_string(dep_ru)) || cb_fact(b, "position_since", json_string(since)))
		return -1;
	return cb_row(b, rows, "position", "Должность", "%s", p_ru) || cb_row(b, rows, "department", "Отдел", "%s", dep_ru) ||
	       cb_row(b, rows, "position_since", "В должности с", "%s", since) ? -1 : 0;
}

int cb_employment(struct cb *b)
{
	const json_t *e, *l;
	const char *last, *first, *hired, *on, *left;
	json_t *pos, *moves, *rows;
	long long y, m, dd, total;
	int employed;

	if (cb_identity(b) || cb_need(b, CQ_EMPLOYEE) || cb_need(b, CQ_SERVICE_LENGTH))
		return -1;
	e = b->ans[CQ_EMPLOYEE].data;
	l = b->ans[CQ_SERVICE_LENGTH].data;
	if (cb_str(b, CQ_EMPLOYEE, e, "last_name", &last) || cb_str(b, CQ_EMPLOYEE, e, "first_name", &first) ||
	    cb_same_person(b, CQ_EMPLOYEE, last, first) || cb_bool(b, CQ_EMPLOYEE, e, "employed", &employed) ||
	    cb_str_or_null(b, CQ_EMPLOYEE, e, "hired_on", &hired) ||
	    cb_obj_or_null(b, CQ_EMPLOYEE, e, "current_position", &pos) || cb_arr(b, CQ_EMPLOYEE, e, "moves", &moves))
		return -1;
	if (cb_str(b, CQ_SERVICE_LENGTH, l, "last_name", &last) ||
	    cb_str(b, CQ_SERVICE_LENGTH, l, "first_name", &first) || cb_same_person(b, CQ_SERVICE_LENGTH, last, first) ||
	    cb_str(b, CQ_SERVICE_LENGTH, l, "on", &on) || cb_int(b, CQ_SERVICE_LENGTH, l, "years", &y) ||
	    cb_int(b, CQ_SERVICE_LENGTH, l, "months", &m) || cb_int(b, CQ_SERVICE_LENGTH, l, "days", &dd) ||
	    cb_int(b, CQ_SERVICE_LENGTH, l, "total_days", &total))
		return -1;
	left = employed ? NULL : last_dismissal(moves);
	ROWS_OR_FAIL(rows, b, "employment", "Место работы");
	if (cb_fact(b, "employed", json_boolean(employed)) ||
	    cb_fact(b, "hired_on", hired ? json_string(hired) : json_null()) ||
	    cb_fact(b, "dismissed_on", left ? json_string(left) : json_null()) ||
	    cb_fact(b, "length_of_service", json_pack("{s:s,s:I,s:I,s:I,s:I}", "on", on, "years", (json_int_t)y,
						      "months", (json_int_t)m, "days", (json_int_t)dd,
						      "total_days", (json_int_t)total)))
		return -1;
	if (cb_row(b, rows, "employed", "Работает в настоящее время", "%s", employed ? "да" : "нет") ||
	    (hired && cb_row(b, rows, "hired_on", "Принят(а) на работу", "%s", hired)) ||
	    (left && cb_row(b, rows, "dismissed_on", "Уволен(а)", "%s", left)) || position_rows(b, employed ? pos : NULL, rows))
		return -1;
	ROWS_OR_FAIL(rows, b, "service_length", "Стаж работы");
	return cb_row(b, rows, "total", "Общий стаж", "на %s: %lld %s %lld мес. %lld дн. (%lld %s)", on, y,
		      ru_plural(y, "год", "года", "лет"), m, dd, total, ru_plural(total, "день", "дня", "дней"));
}
