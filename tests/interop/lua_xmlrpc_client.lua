-- A Lua 5.1 program using LuaXMLRPC (Debian lua-xmlrpc, over LuaSocket), as an
-- embedded or game-server script uses it.
--
-- Usage: lua5.1 lua_xmlrpc_client.lua URL A B NAME LARGE_COUNT MARKUP
-- Prints one JSON object per call. xmlrpc.http.call returns (true, result)
-- or (false, faultString, faultCode); transport errors are Lua errors.
-- Plain Lua tables are structs; arrays need xmlrpc.newArray. The library has
-- no dateTime, base64, i8 or nil writer.

local xmlrpc = require "xmlrpc"
local http = require "xmlrpc.http"

local url, a, b, name, large, markup = unpack(arg)
if not markup then
    io.stderr:write("usage: lua5.1 lua_xmlrpc_client.lua URL A B NAME LARGE_COUNT MARKUP\n")
    os.exit(2)
end
a, b, large = tonumber(a), tonumber(b), tonumber(large)

-- Just enough JSON for what the library returns (numbers, strings, booleans, tables).
local function json(value)
    local kind = type(value)
    if kind == "nil" then
        return "null"
    elseif kind == "boolean" then
        return tostring(value)
    elseif kind == "number" then
        return string.format("%.17g", value)
    elseif kind == "string" then
        return '"' .. value:gsub('[%c"\\]', function(c)
            return string.format("\\u%04x", c:byte())
        end) .. '"'
    end
    local parts = {}
    if #value > 0 then
        for _, item in ipairs(value) do
            parts[#parts + 1] = json(item)
        end
        return "[" .. table.concat(parts, ",") .. "]"
    end
    for key, item in pairs(value) do
        parts[#parts + 1] = json(tostring(key)) .. ":" .. json(item)
    end
    return "{" .. table.concat(parts, ",") .. "}"
end

local function report(label, ok, result, code)
    local line
    if ok == nil then
        line = '{"call":' .. json(label) .. ',"error":' .. json(tostring(result)) .. "}"
    elseif ok then
        line = '{"call":' .. json(label) .. ',"result":' .. json(result) .. "}"
    else
        line = '{"call":' .. json(label) .. ',"fault":{"code":' .. json(code) ..
            ',"message":' .. json(result) .. '},"native":"false, faultString, faultCode"}'
    end
    io.write(line, "\n")
    io.flush()
end

-- One call: (true, result), (false, faultString, faultCode) or (nil, error text).
local function invoke(method, ...)
    local outcome = { pcall(http.call, url, method, ...) }
    if not outcome[1] then
        return nil, outcome[2]
    end
    return outcome[2], outcome[3], outcome[4]
end

local function call(label, method, ...)
    report(label, invoke(method, ...))
end

local function array(...)
    return xmlrpc.newTypedValue({ ... }, xmlrpc.newArray())
end

call("add", "add", a, b)
call("subtract", "subtract", a, b)
call("divide", "divide", a, b)
call("divide_by_zero", "divide", a, 0)
call("hello", "hello", name)
call("ping_markup", "ping", markup)  -- sent unescaped: the library writes strings as they are
local escapes = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;" }
call("ping_markup_escaped", "ping", (markup:gsub("[&<>]", escapes)))
call("ping_struct", "ping", { number = a, text = "plain", list = array(a, b, "three"),
                              nested = { real = 2.5 } })
call("ping_array", "ping", array(a, "two", { key = b }, array(1.5)))
call("ping_double", "ping", -1234.5)
call("ping_boolean", "ping", true)
call("unknown_method", "no_such_method", a)
call("i8_result", "getpow", 2, 40)
call("multicall", "system.multicall", array(
    { methodName = "add", params = array(a, b) },
    { methodName = "subtract", params = array(a, b) },
    { methodName = "divide", params = array(a, 0) }))

local numbers = {}
for i = 1, large do
    numbers[i] = i - 1
end
local ok, echoed = invoke("ping", xmlrpc.newTypedValue(numbers, xmlrpc.newArray("int")))
if ok then
    local sum = 0
    for _, n in ipairs(echoed) do
        sum = sum + n
    end
    report("ping_large", true, { count = #echoed, sum = sum })
else
    report("ping_large", ok, echoed)
end

local count, total = 0, 0
for i = 0, 99 do
    local answered, answer = invoke("add", i, b)
    if not answered then
        break
    end
    count, total = count + 1, total + answer
end
report("sequential", true, { count = count, sum = total })
