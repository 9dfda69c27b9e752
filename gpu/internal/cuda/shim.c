//go:build cgo

// The symbol table and context state shared by every wrapper (shim.h).
#define _GNU_SOURCE
#include <dlfcn.h>
#include "shim.h"

void *mg_sym[S_COUNT];

const char *const mg_sym_name[S_COUNT] = {
#define MG_SYMBOL(lib, name) #name,
#include "symbols.h"
#undef MG_SYMBOL
};

const int mg_sym_lib[S_COUNT] = {
#define MG_SYMBOL(lib, name) lib,
#include "symbols.h"
#undef MG_SYMBOL
};

void mg_set_sym(int slot, void *p) { mg_sym[slot] = p; }

void *mg_dlopen(const char *path) { return dlopen(path, RTLD_NOW | RTLD_GLOBAL); }
const char *mg_dlerror(void) { return dlerror(); }
void *mg_dlsym(void *handle, const char *name) { return dlsym(handle, name); }

// mg_origin returns the file a resolved symbol was loaded from.
const char *mg_origin(void *sym) {
	Dl_info info;
	if (sym == NULL || dladdr(sym, &info) == 0) return NULL;
	return info.dli_fname;
}

CUcontext mg_ctx;
__thread CUcontext mg_thread_ctx;
int mg_ctx_result;

void mg_set_context(CUcontext ctx) { mg_ctx = ctx; mg_thread_ctx = NULL; }
int mg_context_result(void) { return mg_ctx_result; }
