// A C++ program using xmlrpc-c's xmlrpc_c::clientSimple (Debian libxmlrpc-c++8-dev),
// the library's "simple" C++ client.
//
// Usage: xmlrpc_c_cpp_client URL A B NAME LARGE_COUNT MARKUP
// Prints one JSON object per call. clientSimple has no fault object: a fault
// is a girerr::error whose what() holds the fault string, without its code.

#include <xmlrpc-c/base.hpp>
#include <xmlrpc-c/client_simple.hpp>
#include <xmlrpc-c/girerr.hpp>

#include "json_text.hpp"

#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::string utc_text(time_t when)
{
    char text[32];
    struct tm parts;
    gmtime_r(&when, &parts);
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
    return text;
}

// Any value as JSON, by the type the library decoded it as.
std::string json_of(const xmlrpc_c::value &value)
{
    std::ostringstream out;
    switch (value.type()) {
    case xmlrpc_c::value::TYPE_INT: out << xmlrpc_c::value_int(value).cvalue(); break;
    case xmlrpc_c::value::TYPE_I8: out << xmlrpc_c::value_i8(value).cvalue(); break;
    case xmlrpc_c::value::TYPE_BOOLEAN:
        out << (xmlrpc_c::value_boolean(value).cvalue() ? "true" : "false");
        break;
    case xmlrpc_c::value::TYPE_DOUBLE:
        out.precision(17);
        out << xmlrpc_c::value_double(value).cvalue();
        break;
    case xmlrpc_c::value::TYPE_STRING: out << json_string(xmlrpc_c::value_string(value)); break;
    case xmlrpc_c::value::TYPE_DATETIME:
        out << json_string(utc_text(xmlrpc_c::value_datetime(value).cvalue()));
        break;
    case xmlrpc_c::value::TYPE_BYTESTRING:
        out << json_string(hex_of(xmlrpc_c::value_bytestring(value).cvalue()));
        break;
    case xmlrpc_c::value::TYPE_NIL: out << "null"; break;
    case xmlrpc_c::value::TYPE_ARRAY: {
        const char *separator = "";
        out << '[';
        for (const xmlrpc_c::value &item : xmlrpc_c::value_array(value).vectorValueValue()) {
            out << separator << json_of(item);
            separator = ",";
        }
        out << ']';
        break;
    }
    case xmlrpc_c::value::TYPE_STRUCT: {
        const char *separator = "";
        out << '{';
        for (const auto &member : static_cast<std::map<std::string, xmlrpc_c::value>>(
                 xmlrpc_c::value_struct(value))) {
            out << separator << json_string(member.first) << ':' << json_of(member.second);
            separator = ",";
        }
        out << '}';
        break;
    }
    default: out << "\"<type " << value.type() << ">\"";
    }
    return out.str();
}

// clientSimple throws girerr::error for a fault and for a transport failure alike.
void print_error(const std::string &call, const std::string &what)
{
    std::cout << "{\"call\":" << json_string(call) << ",\"error\":" << json_string(what) << '}'
              << std::endl;
}

class Caller {
public:
    explicit Caller(std::string url) : url_(std::move(url)) {}

    bool call(const std::string &label, const std::string &method,
              const xmlrpc_c::paramList &params, xmlrpc_c::value *result = nullptr)
    {
        xmlrpc_c::value answer;
        try {
            client_.call(url_, method, params, &answer);
        } catch (const std::exception &error) {
            print_error(label, error.what());
            return false;
        }
        if (result)
            *result = answer;
        else
            std::cout << "{\"call\":" << json_string(label) << ",\"result\":" << json_of(answer)
                      << '}' << std::endl;
        return true;
    }

private:
    std::string url_;
    xmlrpc_c::clientSimple client_;
};

xmlrpc_c::paramList params(std::vector<xmlrpc_c::value> values)
{
    xmlrpc_c::paramList list;
    for (const xmlrpc_c::value &value : values)
        list.add(value);
    return list;
}

xmlrpc_c::value_struct call_entry(const std::string &method, int x, int y)
{
    return xmlrpc_c::value_struct({{"methodName", xmlrpc_c::value_string(method)},
                                   {"params", xmlrpc_c::value_array(
                                        {xmlrpc_c::value_int(x), xmlrpc_c::value_int(y)})}});
}

void report_counted(Caller &caller, const std::string &label, int large)
{
    std::vector<xmlrpc_c::value> numbers;
    for (int i = 0; i < large; i++)
        numbers.push_back(xmlrpc_c::value_int(i));
    xmlrpc_c::value echoed;
    if (!caller.call(label, "ping", params({xmlrpc_c::value_array(numbers)}), &echoed))
        return;
    long long sum = 0;
    std::vector<xmlrpc_c::value> items = xmlrpc_c::value_array(echoed).vectorValueValue();
    for (const xmlrpc_c::value &item : items)
        sum += xmlrpc_c::value_int(item).cvalue();
    std::cout << "{\"call\":\"ping_large\",\"result\":{\"count\":" << items.size()
              << ",\"sum\":" << sum << "}}" << std::endl;
}

void report_sequential(Caller &caller, int b)
{
    int count = 0;
    long long sum = 0;
    for (int i = 0; i < 100; i++) {
        xmlrpc_c::value answer;
        if (!caller.call("sequential", "add", params({xmlrpc_c::value_int(i),
                                                      xmlrpc_c::value_int(b)}), &answer))
            return;
        sum += xmlrpc_c::value_int(answer).cvalue();
        count++;
    }
    std::cout << "{\"call\":\"sequential\",\"result\":{\"count\":" << count << ",\"sum\":" << sum
              << "}}" << std::endl;
}

}  // namespace

int main(int argc, char **argv)
{
    if (argc != 7) {
        std::cerr << "usage: " << argv[0] << " URL A B NAME LARGE_COUNT MARKUP" << std::endl;
        return 2;
    }
    const int a = std::stoi(argv[2]), b = std::stoi(argv[3]), large = std::stoi(argv[5]);
    using namespace xmlrpc_c;
    Caller caller(argv[1]);
    caller.call("add", "add", params({value_int(a), value_int(b)}));
    caller.call("subtract", "subtract", params({value_int(a), value_int(b)}));
    caller.call("divide", "divide", params({value_int(a), value_int(b)}));
    caller.call("divide_by_zero", "divide", params({value_int(a), value_int(0)}));
    caller.call("hello", "hello", params({value_string(argv[4])}));
    caller.call("ping_markup", "ping", params({value_string(argv[6])}));
    caller.call("ping_struct", "ping", params({value_struct({
        {"number", value_int(a)}, {"text", value_string("plain")},
        {"list", value_array({value_int(a), value_int(b), value_string("three")})},
        {"nested", value_struct({{"real", value_double(2.5)}})}})}));
    caller.call("ping_array", "ping", params({value_array({
        value_int(a), value_string("two"), value_struct({{"key", value_int(b)}}),
        value_array(carray{value_double(1.5)})})}));
    caller.call("ping_double", "ping", params({value_double(-1234.5)}));
    caller.call("ping_boolean", "ping", params({value_boolean(true)}));
    caller.call("ping_datetime", "ping", params({value_datetime(time_t(1767323045))}));
    const std::vector<unsigned char> blob = {0, 1, 0xfe, 0xff, '<', 'b', 'i', 'n', '>'};
    caller.call("ping_base64", "ping", params({value_bytestring(blob)}));
    caller.call("unknown_method", "no_such_method", params({value_int(a)}));
    caller.call("i8_result", "getpow", params({value_int(2), value_int(40)}));
    caller.call("ping_i8", "ping", params({value_i8(xmlrpc_int64(1) << 40)}));
    caller.call("ping_nil", "ping", params({value_nil()}));
    caller.call("multicall", "system.multicall", params({value_array({
        call_entry("add", a, b), call_entry("subtract", a, b), call_entry("divide", a, 0)})}));
    report_counted(caller, "ping_large", large);
    report_sequential(caller, b);
    return 0;
}
