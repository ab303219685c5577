/* The list of adapters compiled into the gateway. Add one line per registry. */
#include "adapters/adapter.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

extern const struct adapter_ops household_adapter;
extern const struct adapter_ops population_adapter;
extern const struct adapter_ops cadastre_adapter;
extern const struct adapter_ops veterinary_adapter;
extern const struct adapter_ops bank_adapter;
extern const struct adapter_ops social_passport_adapter;
extern const struct adapter_ops e_kyzmat_adapter;
extern const struct adapter_ops edocs_adapter;
extern const struct adapter_ops billing_adapter;
extern const struct adapter_ops certificates_adapter;
extern const struct adapter_ops consent_adapter;

static const struct adapter_ops *const adapters[] = {
	&household_adapter,
	&population_adapter,
	&cadastre_adapter,
	&veterinary_adapter,
	&bank_adapter,
	&social_passport_adapter,
	&e_kyzmat_adapter,
	&edocs_adapter,
	&billing_adapter,
	&certificates_adapter,
	&consent_adapter,
};

size_t adapter_count(void)
{
	return sizeof(adapters) / sizeof(adapters[0]);
}

const struct adapter_ops *adapter_at(size_t i)
{
	return i < adapter_count() ? adapters[i] : NULL;
}

const struct adapter_ops *adapter_find(const char *name)
{
	for (size_t i = 0; i < adapter_count(); i++)
		if (strcmp(adapters[i]->name, name) == 0)
			return adapters[i];
	return NULL;
}

const struct adapter_service *adapter_service(const struct adapter_ops *a, const char *code)
{
	for (size_t i = 0; i < a->n_services; i++)
		if (strcmp(a->services[i].code, code) == 0)
			return &a->services[i];
	return NULL;
}

const char *adapter_status_name(enum adapter_status s)
{
	switch (s) {
	case ADAPTER_OK: return "ok";
	case ADAPTER_INVALID_INPUT: return "invalid_input";
	case ADAPTER_NOT_FOUND: return "not_found";
	case ADAPTER_NOT_IN_REGISTER: return "not_in_register";
	case ADAPTER_UNAVAILABLE: return "registry_unavailable";
	case ADAPTER_FAILED: return "failed";
	}
	return "failed";
}

void adapter_result_error(struct adapter_result *res, enum adapter_status st, const char *fmt, ...)
{
	va_list ap;

	json_decref(res->data);   /* an answer built so far is not sent */
	res->status = st;
	res->data = NULL;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
}

void adapter_result_oom(struct adapter_result *res)
{
	adapter_result_error(res, ADAPTER_FAILED, "could not build the answer");
}
