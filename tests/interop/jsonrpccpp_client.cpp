// A C++ program using libjson-rpc-cpp's HTTP client (Debian libjsonrpccpp-dev 0.7),
// in JSON-RPC 1.0 or 2.0 mode.
//
// Usage: jsonrpccpp_client URL A B NAME LARGE_COUNT MARKUP 1.0|2.0
// Prints one JSON object per call. An error reply is the native
// jsonrpc::JsonRpcException (GetCode, GetMessage). The HTTP client throws on
// any HTTP status but 200, notifications included. Batches are 2.0 only.

#include <jsonrpccpp/client.h>
#include <jsonrpccpp/client/connectors/httpclient.h>

#include <iostream>
#include <string>

namespace {

std::string compact(const Json::Value &value)
{
    Json::StreamWriterBuilder builder;
    builder["indentation"] = "";
    builder["emitUTF8"] = true;
    return Json::writeString(builder, value);
}

class Caller {
public:
    Caller(const std::string &url, jsonrpc::clientVersion_t version)
        : http_(url), client_(http_, version) {}

    // One call; prints its line unless quiet. Returns true for a result.
    bool call(const std::string &label, const std::string &method, const Json::Value &params,
              Json::Value *result = nullptr)
    {
        Json::Value line;
        line["call"] = label;
        try {
            Json::Value answer = client_.CallMethod(method, params);
            if (result) {
                *result = answer;
                return true;
            }
            line["result"] = answer;
        } catch (const jsonrpc::JsonRpcException &error) {
            line["fault"]["code"] = error.GetCode();
            line["fault"]["message"] = error.GetMessage();
            line["native"] = "jsonrpc::JsonRpcException";
        }
        std::cout << compact(line) << std::endl;
        return !line.isMember("fault");
    }

    void notify(const std::string &label, const std::string &method, const Json::Value &params)
    {
        Json::Value line;
        line["call"] = label;
        try {
            client_.CallNotification(method, params);
            line["result"] = Json::Value::null;
        } catch (const jsonrpc::JsonRpcException &error) {
            line["error"] = error.what();
        }
        std::cout << compact(line) << std::endl;
    }

    void batch(int a, int b)
    {
        jsonrpc::BatchCall calls;
        int ids[] = {calls.addCall("add", pair(a, b)), calls.addCall("subtract", pair(a, b)),
                     calls.addCall("divide", pair(a, 0))};
        Json::Value line;
        line["call"] = "multicall";
        try {
            jsonrpc::BatchResponse answers = client_.CallProcedures(calls);
            Json::Value &entries = line["result"] = Json::Value(Json::arrayValue);
            for (int number : ids) {
                Json::Value id(number), entry;
                if (answers.getErrorCode(id) == 0) {
                    entry["result"] = answers.getResult(id);
                } else {
                    entry["fault"]["code"] = answers.getErrorCode(id);
                    entry["fault"]["message"] = answers.getErrorMessage(id);
                }
                entries.append(entry);
            }
        } catch (const jsonrpc::JsonRpcException &error) {
            line["error"] = error.what();
        }
        std::cout << compact(line) << std::endl;
    }

    static Json::Value pair(const Json::Value &first, const Json::Value &second)
    {
        Json::Value list(Json::arrayValue);
        list.append(first);
        list.append(second);
        return list;
    }

private:
    jsonrpc::HttpClient http_;
    jsonrpc::Client client_;
};

Json::Value one(const Json::Value &value)
{
    Json::Value list(Json::arrayValue);
    list.append(value);
    return list;
}

void counted(Caller &caller, int large, int b)
{
    Json::Value numbers(Json::arrayValue), echoed;
    for (int i = 0; i < large; i++)
        numbers.append(i);
    Json::Value line;
    if (caller.call("ping_large", "ping", one(numbers), &echoed)) {
        Json::Int64 sum = 0;
        for (const Json::Value &item : echoed)
            sum += item.asInt64();
        line["call"] = "ping_large";
        line["result"]["count"] = echoed.size();
        line["result"]["sum"] = sum;
        std::cout << compact(line) << std::endl;
    }
    int count = 0;
    Json::Int64 total = 0;
    for (int i = 0; i < 100; i++) {
        Json::Value answer;
        if (!caller.call("sequential", "add", Caller::pair(i, b), &answer))
            return;
        total += answer.asInt64();
        count++;
    }
    line["call"] = "sequential";
    line["result"]["count"] = count;
    line["result"]["sum"] = total;
    std::cout << compact(line) << std::endl;
}

}  // namespace

int main(int argc, char **argv)
{
    if (argc != 8) {
        std::cerr << "usage: " << argv[0] << " URL A B NAME LARGE_COUNT MARKUP 1.0|2.0" << std::endl;
        return 2;
    }
    const bool v2 = std::string(argv[7]) == "2.0";
    const int a = std::stoi(argv[2]), b = std::stoi(argv[3]);
    Caller caller(argv[1], v2 ? jsonrpc::JSONRPC_CLIENT_V2 : jsonrpc::JSONRPC_CLIENT_V1);
    caller.call("add", "add", Caller::pair(a, b));
    caller.call("subtract", "subtract", Caller::pair(a, b));
    caller.call("divide", "divide", Caller::pair(a, b));
    caller.call("divide_by_zero", "divide", Caller::pair(a, 0));
    caller.call("hello", "hello", one(argv[4]));
    caller.call("ping_markup", "ping", one(argv[6]));
    Json::Value data, list(Json::arrayValue);
    data["number"] = a;
    data["text"] = "plain";
    data["list"] = Json::Value(Json::arrayValue);
    data["list"].append(a);
    data["list"].append(b);
    data["list"].append("three");
    data["nested"]["real"] = 2.5;
    caller.call("ping_struct", "ping", one(data));
    Json::Value keyed;
    keyed["key"] = b;
    list.append(a);
    list.append("two");
    list.append(keyed);
    list.append(one(1.5));
    caller.call("ping_array", "ping", one(list));
    caller.call("ping_double", "ping", one(-1234.5));
    caller.call("ping_boolean", "ping", one(true));
    caller.call("unknown_method", "no_such_method", one(a));
    caller.call("i8_result", "getpow", Caller::pair(2, 40));
    caller.call("ping_i8", "ping", one(Json::Int64(1) << 40));
    caller.call("ping_nil", "ping", one(Json::Value::null));
    if (v2)
        caller.batch(a, b);
    caller.notify("notification", "add", Caller::pair(a, b));
    counted(caller, std::stoi(argv[5]), b);
    return 0;
}
