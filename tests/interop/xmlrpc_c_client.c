/*
 * A C program linked against libxmlrpc-c's client library (xmlrpc-c 1.33,
 * Debian libxmlrpc-core-c3-dev), as a C monitoring agent would use it.
 *
 * Usage: xmlrpc_c_client URL A B NAME LARGE_COUNT
 * Prints one JSON object per call on stdout; tests/interop/test_interop.py
 * checks them against values it computes itself. Faults are read from the
 * library's native error environment (env.fault_code / env.fault_string).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/client.h>

static void print_value(xmlrpc_env *env, xmlrpc_value *value);

/* JSON string: escape quotes, backslashes and control bytes; UTF-8 passes through. */
static void print_string(const char *text, size_t length)
{
    putchar('"');
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_array(xmlrpc_env *env, xmlrpc_value *array)
{
    int size = xmlrpc_array_size(env, array);
    putchar('[');
    for (int i = 0; i < size && !env->fault_occurred; i++) {
        xmlrpc_value *item;
        xmlrpc_array_read_item(env, array, i, &item);
        if (env->fault_occurred)
            return;
        if (i)
            putchar(',');
        print_value(env, item);
        xmlrpc_DECREF(item);
    }
    putchar(']');
}

static void print_struct(xmlrpc_env *env, xmlrpc_value *dict)
{
    int size = xmlrpc_struct_size(env, dict);
    putchar('{');
    for (int i = 0; i < size && !env->fault_occurred; i++) {
        xmlrpc_value *key, *member;
        const char *name;
        size_t length;
        xmlrpc_struct_read_member(env, dict, i, &key, &member);
        if (env->fault_occurred)
            return;
        xmlrpc_read_string_lp(env, key, &length, &name);
        if (!env->fault_occurred) {
            if (i)
                putchar(',');
            print_string(name, length);
            putchar(':');
            free((void *)name);
            print_value(env, member);
        }
        xmlrpc_DECREF(key);
        xmlrpc_DECREF(member);
    }
    putchar('}');
}

/* Any XML-RPC value as JSON, by the type the library decoded it as. */
static void print_value(xmlrpc_env *env, xmlrpc_value *value)
{
    switch (xmlrpc_value_type(value)) {
    case XMLRPC_TYPE_INT: {
        int number;
        xmlrpc_read_int(env, value, &number);
        printf("%d", number);
        break;
    }
    case XMLRPC_TYPE_I8: {
        xmlrpc_int64 number;
        xmlrpc_read_i8(env, value, &number);
        printf("%lld", (long long)number);
        break;
    }
    case XMLRPC_TYPE_BOOL: {
        xmlrpc_bool flag;
        xmlrpc_read_bool(env, value, &flag);
        printf(flag ? "true" : "false");
        break;
    }
    case XMLRPC_TYPE_DOUBLE: {
        double number;
        xmlrpc_read_double(env, value, &number);
        printf("%.17g", number);
        break;
    }
    case XMLRPC_TYPE_STRING: {
        const char *text;
        size_t length;
        xmlrpc_read_string_lp(env, value, &length, &text);
        if (!env->fault_occurred) {
            print_string(text, length);
            free((void *)text);
        }
        break;
    }
    case XMLRPC_TYPE_ARRAY:
        print_array(env, value);
        break;
    case XMLRPC_TYPE_STRUCT:
        print_struct(env, value);
        break;
    case XMLRPC_TYPE_NIL:
        printf("null");
        break;
    default:
        printf("\"<xmlrpc type %d>\"", (int)xmlrpc_value_type(value));
    }
}

/* One output line for one call: its result, or the fault the library reported. */
static void report(const char *call, xmlrpc_env *env, xmlrpc_value *result)
{
    printf("{\"call\":\"%s\",", call);
    if (env->fault_occurred) {
        printf("\"fault\":{\"code\":%d,\"message\":", env->fault_code);
        print_string(env->fault_string, strlen(env->fault_string));
        printf("},\"native\":\"xmlrpc_env\"}\n");
    } else {
        printf("\"result\":");
        print_value(env, result);
        printf("}\n");
    }
    fflush(stdout);
    if (result)
        xmlrpc_DECREF(result);
    xmlrpc_env_clean(env);
    xmlrpc_env_init(env);
}

/* system.multicall answers [value] per success and a fault struct per failure. */
static void report_multicall(xmlrpc_env *env, xmlrpc_value *answers)
{
    if (env->fault_occurred) {
        report("multicall", env, NULL);
        return;
    }
    printf("{\"call\":\"multicall\",\"result\":[");
    int size = xmlrpc_array_size(env, answers);
    for (int i = 0; i < size && !env->fault_occurred; i++) {
        xmlrpc_value *answer;
        xmlrpc_array_read_item(env, answers, i, &answer);
        if (env->fault_occurred)
            break;
        if (i)
            putchar(',');
        if (xmlrpc_value_type(answer) == XMLRPC_TYPE_STRUCT) {
            xmlrpc_int32 code;
            const char *message;
            xmlrpc_decompose_value(env, answer, "{s:i,s:s,*}", "faultCode", &code,
                                   "faultString", &message);
            if (!env->fault_occurred) {
                printf("{\"fault\":{\"code\":%d,\"message\":", (int)code);
                print_string(message, strlen(message));
                printf("}}");
                free((void *)message);
            }
        } else {
            xmlrpc_value *first;
            xmlrpc_array_read_item(env, answer, 0, &first);
            if (!env->fault_occurred) {
                printf("{\"result\":");
                print_value(env, first);
                putchar('}');
                xmlrpc_DECREF(first);
            }
        }
        xmlrpc_DECREF(answer);
    }
    printf("]}\n");
    fflush(stdout);
    xmlrpc_DECREF(answers);
    xmlrpc_env_clean(env);
    xmlrpc_env_init(env);
}

static void report_large(xmlrpc_env *env, xmlrpc_value *echoed)
{
    long long sum = 0;
    int count = 0;
    if (!env->fault_occurred) {
        count = xmlrpc_array_size(env, echoed);
        for (int i = 0; i < count && !env->fault_occurred; i++) {
            xmlrpc_value *item;
            int number;
            xmlrpc_array_read_item(env, echoed, i, &item);
            if (env->fault_occurred)
                break;
            xmlrpc_read_int(env, item, &number);
            sum += number;
            xmlrpc_DECREF(item);
        }
    }
    if (env->fault_occurred) {
        report("ping_large", env, echoed);
        return;
    }
    printf("{\"call\":\"ping_large\",\"result\":{\"count\":%d,\"sum\":%lld}}\n", count, sum);
    fflush(stdout);
    xmlrpc_DECREF(echoed);
}

/* The library leaves the result undefined when a call fails: make it NULL. */
static xmlrpc_value *checked(xmlrpc_env *env, xmlrpc_value *result)
{
    return env->fault_occurred ? NULL : result;
}

static xmlrpc_value *counting_array(xmlrpc_env *env, int count)
{
    xmlrpc_value *array = xmlrpc_array_new(env);
    for (int i = 0; i < count && !env->fault_occurred; i++) {
        xmlrpc_value *item = xmlrpc_int_new(env, i);
        xmlrpc_array_append_item(env, array, item);
        xmlrpc_DECREF(item);
    }
    return array;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s URL A B NAME LARGE_COUNT\n", argv[0]);
        return 2;
    }
    const char *url = argv[1];
    int a = atoi(argv[2]), b = atoi(argv[3]), large = atoi(argv[5]);
    const char *name = argv[4];
    xmlrpc_env env;
    xmlrpc_env_init(&env);
    xmlrpc_client_init2(&env, XMLRPC_CLIENT_NO_FLAGS, "interop", "1.0", NULL, 0);
    if (env.fault_occurred) {
        fprintf(stderr, "xmlrpc_client_init2: %s\n", env.fault_string);
        return 1;
    }
    xmlrpc_value *result, *params, *array;

    result = checked(&env, xmlrpc_client_call(&env, url, "add", "(ii)", a, b));
    report("add", &env, result);
    result = checked(&env, xmlrpc_client_call(&env, url, "subtract", "(ii)", a, b));
    report("subtract", &env, result);
    result = checked(&env, xmlrpc_client_call(&env, url, "divide", "(ii)", a, b));
    report("divide", &env, result);
    result = checked(&env, xmlrpc_client_call(&env, url, "divide", "(ii)", a, 0));
    report("divide_by_zero", &env, result);
    result = checked(&env, xmlrpc_client_call(&env, url, "hello", "(s)", name));
    report("hello", &env, result);
    result = checked(&env, xmlrpc_client_call(
        &env, url, "ping", "({s:i,s:s,s:(iis),s:{s:d}})", "number", a, "text", "plain",
        "list", a, b, "three", "nested", "real", 2.5));
    report("ping_struct", &env, result);
    result = checked(&env, xmlrpc_client_call(
        &env, url, "ping", "((is{s:i}(d)))", a, "two", "key", b, 1.5));
    report("ping_array", &env, result);

    params = checked(&env, xmlrpc_build_value(
        &env, "(({s:s,s:(ii)}{s:s,s:(ii)}{s:s,s:(ii)}))",
        "methodName", "add", "params", a, b,
        "methodName", "subtract", "params", a, b,
        "methodName", "divide", "params", a, 0));
    result = params ? checked(&env, xmlrpc_client_call_params(&env, url, "system.multicall",
                                                                params)) : NULL;
    if (params)
        xmlrpc_DECREF(params);
    report_multicall(&env, result);

    array = counting_array(&env, large);
    params = checked(&env, xmlrpc_build_value(&env, "(V)", array));
    xmlrpc_DECREF(array);
    result = params ? checked(&env, xmlrpc_client_call_params(&env, url, "ping", params)) : NULL;
    if (params)
        xmlrpc_DECREF(params);
    report_large(&env, result);

    result = checked(&env, xmlrpc_client_call(&env, url, "getpow", "(ii)", 2, 40));
    report("i8_result", &env, result);
    result = checked(&env, xmlrpc_client_call(&env, url, "ping", "(I)", (xmlrpc_int64)1 << 40));
    report("ping_i8", &env, result);

    xmlrpc_env_clean(&env);
    xmlrpc_client_cleanup();
    return 0;
}
