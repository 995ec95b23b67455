<?php
// PHP's ext/xmlrpc (Debian php-xmlrpc) with file_get_contents, as a PHP shop front uses it.
//
// Usage: php php_xmlrpc_client.php URL A B NAME LARGE_COUNT
// Prints one JSON object per call. A fault is what xmlrpc_decode() returns for
// it: an array that xmlrpc_is_fault() recognises. "hello" uses the extension's
// defaults (encoding="iso-8859-1", non-ASCII escaped byte by byte), and
// "hello_utf8_options" the options that send real UTF-8. "add_no_content_type"
// sets no header, so PHP sends application/x-www-form-urlencoded.
// ext/xmlrpc has no multicall helper: system.multicall is called directly.

[, $url, $a, $b, $name, $large] = $argv + [5 => null];
if ($large === null) {
    fwrite(STDERR, "usage: php php_xmlrpc_client.php URL A B NAME LARGE_COUNT\n");
    exit(2);
}
$a = (int) $a;
$b = (int) $b;

// POST one request body; return the raw reply, or null when the request failed.
function post(string $url, string $body, string $headers): ?string
{
    $context = stream_context_create(['http' => [
        'method' => 'POST', 'header' => $headers, 'content' => $body, 'timeout' => 10,
        'ignore_errors' => true,
    ]]);
    $reply = file_get_contents($url, false, $context);
    return $reply === false ? null : $reply;
}

// Run one call and print its result, its fault, or why there is none.
function report(string $call, string $url, string $method, array $params, array $encode = [],
                string $decode = 'iso-8859-1', string $headers = "Content-Type: text/xml\r\n",
                ?callable $shape = null): void
{
    $line = ['call' => $call];
    $reply = post($url, xmlrpc_encode_request($method, $params, $encode), $headers);
    if ($reply === null) {
        $line['error'] = 'no reply';
    } else {
        $value = xmlrpc_decode($reply, $decode);
        if (is_array($value) && xmlrpc_is_fault($value)) {
            $line['fault'] = ['code' => $value['faultCode'], 'message' => $value['faultString']];
            $line['native'] = 'xmlrpc_is_fault()';
        } elseif ($value === null) {
            $line['error'] = 'xmlrpc_decode() returned null for: ' . substr($reply, 0, 300);
        } else {
            $line['result'] = $shape ? $shape($value) : $value;
        }
    }
    echo json_encode($line, JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION), "\n";
}

// system.multicall answers [value] per success and a fault struct per failure.
$multicall_entries = fn(array $answers) => array_map(
    fn($answer) => isset($answer['faultCode'])
        ? ['fault' => ['code' => $answer['faultCode'], 'message' => $answer['faultString']]]
        : ['result' => $answer[0]],
    $answers);
$count_and_sum = fn(array $items) => ['count' => count($items), 'sum' => array_sum($items)];
$utf8 = ['encoding' => 'utf-8', 'escaping' => 'markup'];

report('add', $url, 'add', [$a, $b]);
report('subtract', $url, 'subtract', [$a, $b]);
report('divide', $url, 'divide', [$a, $b]);
report('divide_by_zero', $url, 'divide', [$a, 0]);
report('hello', $url, 'hello', [$name]);
report('hello_utf8_options', $url, 'hello', [$name], $utf8, 'utf-8');
report('ping_struct', $url, 'ping', [[
    'number' => $a, 'text' => 'plain', 'list' => [$a, $b, 'three'], 'nested' => ['real' => 2.5]]]);
report('ping_array', $url, 'ping', [[$a, 'two', ['key' => $b], [1.5]]]);
report('multicall', $url, 'system.multicall', [[
    ['methodName' => 'add', 'params' => [$a, $b]],
    ['methodName' => 'subtract', 'params' => [$a, $b]],
    ['methodName' => 'divide', 'params' => [$a, 0]],
]], shape: $multicall_entries);
report('ping_large', $url, 'ping', [range(0, (int) $large - 1)], shape: $count_and_sum);
report('i8_result', $url, 'getpow', [2, 40]);
report('ping_2_40', $url, 'ping', [2 ** 40]);
report('add_no_content_type', $url, 'add', [$a, $b], headers: '');
