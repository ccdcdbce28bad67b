graph [
  directed 1
  multigraph 1
  name "ternary tree 4"
  periodic 0
  actions "[&#34;parent&#34;, &#34;child1&#34;, &#34;child2&#34;, &#34;child3&#34;]"
  inverse_actions "{&#34;child1&#34;: &#34;parent&#34;, &#34;child2&#34;: &#34;parent&#34;, &#34;child3&#34;: &#34;parent&#34;}"
  node [
    id 0
    label "0"
    x 40.5
    y -0.0
  ]
  node [
    id 1
    label "1"
    x 13.5
    y -1.0
  ]
  node [
    id 2
    label "2"
    x 40.5
    y -1.0
  ]
  node [
    id 3
    label "3"
    x 67.5
    y -1.0
  ]
  node [
    id 4
    label "4"
    x 4.5
    y -2.0
  ]
  node [
    id 5
    label "5"
    x 13.5
    y -2.0
  ]
  node [
    id 6
    label "6"
    x 22.5
    y -2.0
  ]
  node [
    id 7
    label "7"
    x 31.5
    y -2.0
  ]
  node [
    id 8
    label "8"
    x 40.5
    y -2.0
  ]
  node [
    id 9
    label "9"
    x 49.5
    y -2.0
  ]
  node [
    id 10
    label "10"
    x 58.5
    y -2.0
  ]
  node [
    id 11
    label "11"
    x 67.5
    y -2.0
  ]
  node [
    id 12
    label "12"
    x 76.5
    y -2.0
  ]
  node [
    id 13
    label "13"
    x 1.5
    y -3.0
  ]
  node [
    id 14
    label "14"
    x 4.5
    y -3.0
  ]
  node [
    id 15
    label "15"
    x 7.5
    y -3.0
  ]
  node [
    id 16
    label "16"
    x 10.5
    y -3.0
  ]
  node [
    id 17
    label "17"
    x 13.5
    y -3.0
  ]
  node [
    id 18
    label "18"
    x 16.5
    y -3.0
  ]
  node [
    id 19
    label "19"
    x 19.5
    y -3.0
  ]
  node [
    id 20
    label "20"
    x 22.5
    y -3.0
  ]
  node [
    id 21
    label "21"
    x 25.5
    y -3.0
  ]
  node [
    id 22
    label "22"
    x 28.5
    y -3.0
  ]
  node [
    id 23
    label "23"
    x 31.5
    y -3.0
  ]
  node [
    id 24
    label "24"
    x 34.5
    y -3.0
  ]
  node [
    id 25
    label "25"
    x 37.5
    y -3.0
  ]
  node [
    id 26
    label "26"
    x 40.5
    y -3.0
  ]
  node [
    id 27
    label "27"
    x 43.5
    y -3.0
  ]
  node [
    id 28
    label "28"
    x 46.5
    y -3.0
  ]
  node [
    id 29
    label "29"
    x 49.5
    y -3.0
  ]
  node [
    id 30
    label "30"
    x 52.5
    y -3.0
  ]
  node [
    id 31
    label "31"
    x 55.5
    y -3.0
  ]
  node [
    id 32
    label "32"
    x 58.5
    y -3.0
  ]
  node [
    id 33
    label "33"
    x 61.5
    y -3.0
  ]
  node [
    id 34
    label "34"
    x 64.5
    y -3.0
  ]
  node [
    id 35
    label "35"
    x 67.5
    y -3.0
  ]
  node [
    id 36
    label "36"
    x 70.5
    y -3.0
  ]
  node [
    id 37
    label "37"
    x 73.5
    y -3.0
  ]
  node [
    id 38
    label "38"
    x 76.5
    y -3.0
  ]
  node [
    id 39
    label "39"
    x 79.5
    y -3.0
  ]
  node [
    id 40
    label "40"
    x 0.5
    y -4.0
  ]
  node [
    id 41
    label "41"
    x 1.5
    y -4.0
  ]
  node [
    id 42
    label "42"
    x 2.5
    y -4.0
  ]
  node [
    id 43
    label "43"
    x 3.5
    y -4.0
  ]
  node [
    id 44
    label "44"
    x 4.5
    y -4.0
  ]
  node [
    id 45
    label "45"
    x 5.5
    y -4.0
  ]
  node [
    id 46
    label "46"
    x 6.5
    y -4.0
  ]
  node [
    id 47
    label "47"
    x 7.5
    y -4.0
  ]
  node [
    id 48
    label "48"
    x 8.5
    y -4.0
  ]
  node [
    id 49
    label "49"
    x 9.5
    y -4.0
  ]
  node [
    id 50
    label "50"
    x 10.5
    y -4.0
  ]
  node [
    id 51
    label "51"
    x 11.5
    y -4.0
  ]
  node [
    id 52
    label "52"
    x 12.5
    y -4.0
  ]
  node [
    id 53
    label "53"
    x 13.5
    y -4.0
  ]
  node [
    id 54
    label "54"
    x 14.5
    y -4.0
  ]
  node [
    id 55
    label "55"
    x 15.5
    y -4.0
  ]
  node [
    id 56
    label "56"
    x 16.5
    y -4.0
  ]
  node [
    id 57
    label "57"
    x 17.5
    y -4.0
  ]
  node [
    id 58
    label "58"
    x 18.5
    y -4.0
  ]
  node [
    id 59
    label "59"
    x 19.5
    y -4.0
  ]
  node [
    id 60
    label "60"
    x 20.5
    y -4.0
  ]
  node [
    id 61
    label "61"
    x 21.5
    y -4.0
  ]
  node [
    id 62
    label "62"
    x 22.5
    y -4.0
  ]
  node [
    id 63
    label "63"
    x 23.5
    y -4.0
  ]
  node [
    id 64
    label "64"
    x 24.5
    y -4.0
  ]
  node [
    id 65
    label "65"
    x 25.5
    y -4.0
  ]
  node [
    id 66
    label "66"
    x 26.5
    y -4.0
  ]
  node [
    id 67
    label "67"
    x 27.5
    y -4.0
  ]
  node [
    id 68
    label "68"
    x 28.5
    y -4.0
  ]
  node [
    id 69
    label "69"
    x 29.5
    y -4.0
  ]
  node [
    id 70
    label "70"
    x 30.5
    y -4.0
  ]
  node [
    id 71
    label "71"
    x 31.5
    y -4.0
  ]
  node [
    id 72
    label "72"
    x 32.5
    y -4.0
  ]
  node [
    id 73
    label "73"
    x 33.5
    y -4.0
  ]
  node [
    id 74
    label "74"
    x 34.5
    y -4.0
  ]
  node [
    id 75
    label "75"
    x 35.5
    y -4.0
  ]
  node [
    id 76
    label "76"
    x 36.5
    y -4.0
  ]
  node [
    id 77
    label "77"
    x 37.5
    y -4.0
  ]
  node [
    id 78
    label "78"
    x 38.5
    y -4.0
  ]
  node [
    id 79
    label "79"
    x 39.5
    y -4.0
  ]
  node [
    id 80
    label "80"
    x 40.5
    y -4.0
  ]
  node [
    id 81
    label "81"
    x 41.5
    y -4.0
  ]
  node [
    id 82
    label "82"
    x 42.5
    y -4.0
  ]
  node [
    id 83
    label "83"
    x 43.5
    y -4.0
  ]
  node [
    id 84
    label "84"
    x 44.5
    y -4.0
  ]
  node [
    id 85
    label "85"
    x 45.5
    y -4.0
  ]
  node [
    id 86
    label "86"
    x 46.5
    y -4.0
  ]
  node [
    id 87
    label "87"
    x 47.5
    y -4.0
  ]
  node [
    id 88
    label "88"
    x 48.5
    y -4.0
  ]
  node [
    id 89
    label "89"
    x 49.5
    y -4.0
  ]
  node [
    id 90
    label "90"
    x 50.5
    y -4.0
  ]
  node [
    id 91
    label "91"
    x 51.5
    y -4.0
  ]
  node [
    id 92
    label "92"
    x 52.5
    y -4.0
  ]
  node [
    id 93
    label "93"
    x 53.5
    y -4.0
  ]
  node [
    id 94
    label "94"
    x 54.5
    y -4.0
  ]
  node [
    id 95
    label "95"
    x 55.5
    y -4.0
  ]
  node [
    id 96
    label "96"
    x 56.5
    y -4.0
  ]
  node [
    id 97
    label "97"
    x 57.5
    y -4.0
  ]
  node [
    id 98
    label "98"
    x 58.5
    y -4.0
  ]
  node [
    id 99
    label "99"
    x 59.5
    y -4.0
  ]
  node [
    id 100
    label "100"
    x 60.5
    y -4.0
  ]
  node [
    id 101
    label "101"
    x 61.5
    y -4.0
  ]
  node [
    id 102
    label "102"
    x 62.5
    y -4.0
  ]
  node [
    id 103
    label "103"
    x 63.5
    y -4.0
  ]
  node [
    id 104
    label "104"
    x 64.5
    y -4.0
  ]
  node [
    id 105
    label "105"
    x 65.5
    y -4.0
  ]
  node [
    id 106
    label "106"
    x 66.5
    y -4.0
  ]
  node [
    id 107
    label "107"
    x 67.5
    y -4.0
  ]
  node [
    id 108
    label "108"
    x 68.5
    y -4.0
  ]
  node [
    id 109
    label "109"
    x 69.5
    y -4.0
  ]
  node [
    id 110
    label "110"
    x 70.5
    y -4.0
  ]
  node [
    id 111
    label "111"
    x 71.5
    y -4.0
  ]
  node [
    id 112
    label "112"
    x 72.5
    y -4.0
  ]
  node [
    id 113
    label "113"
    x 73.5
    y -4.0
  ]
  node [
    id 114
    label "114"
    x 74.5
    y -4.0
  ]
  node [
    id 115
    label "115"
    x 75.5
    y -4.0
  ]
  node [
    id 116
    label "116"
    x 76.5
    y -4.0
  ]
  node [
    id 117
    label "117"
    x 77.5
    y -4.0
  ]
  node [
    id 118
    label "118"
    x 78.5
    y -4.0
  ]
  node [
    id 119
    label "119"
    x 79.5
    y -4.0
  ]
  node [
    id 120
    label "120"
    x 80.5
    y -4.0
  ]
  edge [
    source 0
    target 1
    key 0
    action "child1"
  ]
  edge [
    source 0
    target 2
    key 0
    action "child2"
  ]
  edge [
    source 0
    target 3
    key 0
    action "child3"
  ]
  edge [
    source 1
    target 0
    key 0
    action "parent"
  ]
  edge [
    source 1
    target 4
    key 0
    action "child1"
  ]
  edge [
    source 1
    target 5
    key 0
    action "child2"
  ]
  edge [
    source 1
    target 6
    key 0
    action "child3"
  ]
  edge [
    source 2
    target 0
    key 0
    action "parent"
  ]
  edge [
    source 2
    target 7
    key 0
    action "child1"
  ]
  edge [
    source 2
    target 8
    key 0
    action "child2"
  ]
  edge [
    source 2
    target 9
    key 0
    action "child3"
  ]
  edge [
    source 3
    target 0
    key 0
    action "parent"
  ]
  edge [
    source 3
    target 10
    key 0
    action "child1"
  ]
  edge [
    source 3
    target 11
    key 0
    action "child2"
  ]
  edge [
    source 3
    target 12
    key 0
    action "child3"
  ]
  edge [
    source 4
    target 1
    key 0
    action "parent"
  ]
  edge [
    source 4
    target 13
    key 0
    action "child1"
  ]
  edge [
    source 4
    target 14
    key 0
    action "child2"
  ]
  edge [
    source 4
    target 15
    key 0
    action "child3"
  ]
  edge [
    source 5
    target 1
    key 0
    action "parent"
  ]
  edge [
    source 5
    target 16
    key 0
    action "child1"
  ]
  edge [
    source 5
    target 17
    key 0
    action "child2"
  ]
  edge [
    source 5
    target 18
    key 0
    action "child3"
  ]
  edge [
    source 6
    target 1
    key 0
    action "parent"
  ]
  edge [
    source 6
    target 19
    key 0
    action "child1"
  ]
  edge [
    source 6
    target 20
    key 0
    action "child2"
  ]
  edge [
    source 6
    target 21
    key 0
    action "child3"
  ]
  edge [
    source 7
    target 2
    key 0
    action "parent"
  ]
  edge [
    source 7
    target 22
    key 0
    action "child1"
  ]
  edge [
    source 7
    target 23
    key 0
    action "child2"
  ]
  edge [
    source 7
    target 24
    key 0
    action "child3"
  ]
  edge [
    source 8
    target 2
    key 0
    action "parent"
  ]
  edge [
    source 8
    target 25
    key 0
    action "child1"
  ]
  edge [
    source 8
    target 26
    key 0
    action "child2"
  ]
  edge [
    source 8
    target 27
    key 0
    action "child3"
  ]
  edge [
    source 9
    target 2
    key 0
    action "parent"
  ]
  edge [
    source 9
    target 28
    key 0
    action "child1"
  ]
  edge [
    source 9
    target 29
    key 0
    action "child2"
  ]
  edge [
    source 9
    target 30
    key 0
    action "child3"
  ]
  edge [
    source 10
    target 3
    key 0
    action "parent"
  ]
  edge [
    source 10
    target 31
    key 0
    action "child1"
  ]
  edge [
    source 10
    target 32
    key 0
    action "child2"
  ]
  edge [
    source 10
    target 33
    key 0
    action "child3"
  ]
  edge [
    source 11
    target 3
    key 0
    action "parent"
  ]
  edge [
    source 11
    target 34
    key 0
    action "child1"
  ]
  edge [
    source 11
    target 35
    key 0
    action "child2"
  ]
  edge [
    source 11
    target 36
    key 0
    action "child3"
  ]
  edge [
    source 12
    target 3
    key 0
    action "parent"
  ]
  edge [
    source 12
    target 37
    key 0
    action "child1"
  ]
  edge [
    source 12
    target 38
    key 0
    action "child2"
  ]
  edge [
    source 12
    target 39
    key 0
    action "child3"
  ]
  edge [
    source 13
    target 4
    key 0
    action "parent"
  ]
  edge [
    source 13
    target 40
    key 0
    action "child1"
  ]
  edge [
    source 13
    target 41
    key 0
    action "child2"
  ]
  edge [
    source 13
    target 42
    key 0
    action "child3"
  ]
  edge [
    source 14
    target 4
    key 0
    action "parent"
  ]
  edge [
    source 14
    target 43
    key 0
    action "child1"
  ]
  edge [
    source 14
    target 44
    key 0
    action "child2"
  ]
  edge [
    source 14
    target 45
    key 0
    action "child3"
  ]
  edge [
    source 15
    target 4
    key 0
    action "parent"
  ]
  edge [
    source 15
    target 46
    key 0
    action "child1"
  ]
  edge [
    source 15
    target 47
    key 0
    action "child2"
  ]
  edge [
    source 15
    target 48
    key 0
    action "child3"
  ]
  edge [
    source 16
    target 5
    key 0
    action "parent"
  ]
  edge [
    source 16
    target 49
    key 0
    action "child1"
  ]
  edge [
    source 16
    target 50
    key 0
    action "child2"
  ]
  edge [
    source 16
    target 51
    key 0
    action "child3"
  ]
  edge [
    source 17
    target 5
    key 0
    action "parent"
  ]
  edge [
    source 17
    target 52
    key 0
    action "child1"
  ]
  edge [
    source 17
    target 53
    key 0
    action "child2"
  ]
  edge [
    source 17
    target 54
    key 0
    action "child3"
  ]
  edge [
    source 18
    target 5
    key 0
    action "parent"
  ]
  edge [
    source 18
    target 55
    key 0
    action "child1"
  ]
  edge [
    source 18
    target 56
    key 0
    action "child2"
  ]
  edge [
    source 18
    target 57
    key 0
    action "child3"
  ]
  edge [
    source 19
    target 6
    key 0
    action "parent"
  ]
  edge [
    source 19
    target 58
    key 0
    action "child1"
  ]
  edge [
    source 19
    target 59
    key 0
    action "child2"
  ]
  edge [
    source 19
    target 60
    key 0
    action "child3"
  ]
  edge [
    source 20
    target 6
    key 0
    action "parent"
  ]
  edge [
    source 20
    target 61
    key 0
    action "child1"
  ]
  edge [
    source 20
    target 62
    key 0
    action "child2"
  ]
  edge [
    source 20
    target 63
    key 0
    action "child3"
  ]
  edge [
    source 21
    target 6
    key 0
    action "parent"
  ]
  edge [
    source 21
    target 64
    key 0
    action "child1"
  ]
  edge [
    source 21
    target 65
    key 0
    action "child2"
  ]
  edge [
    source 21
    target 66
    key 0
    action "child3"
  ]
  edge [
    source 22
    target 7
    key 0
    action "parent"
  ]
  edge [
    source 22
    target 67
    key 0
    action "child1"
  ]
  edge [
    source 22
    target 68
    key 0
    action "child2"
  ]
  edge [
    source 22
    target 69
    key 0
    action "child3"
  ]
  edge [
    source 23
    target 7
    key 0
    action "parent"
  ]
  edge [
    source 23
    target 70
    key 0
    action "child1"
  ]
  edge [
    source 23
    target 71
    key 0
    action "child2"
  ]
  edge [
    source 23
    target 72
    key 0
    action "child3"
  ]
  edge [
    source 24
    target 7
    key 0
    action "parent"
  ]
  edge [
    source 24
    target 73
    key 0
    action "child1"
  ]
  edge [
    source 24
    target 74
    key 0
    action "child2"
  ]
  edge [
    source 24
    target 75
    key 0
    action "child3"
  ]
  edge [
    source 25
    target 8
    key 0
    action "parent"
  ]
  edge [
    source 25
    target 76
    key 0
    action "child1"
  ]
  edge [
    source 25
    target 77
    key 0
    action "child2"
  ]
  edge [
    source 25
    target 78
    key 0
    action "child3"
  ]
  edge [
    source 26
    target 8
    key 0
    action "parent"
  ]
  edge [
    source 26
    target 79
    key 0
    action "child1"
  ]
  edge [
    source 26
    target 80
    key 0
    action "child2"
  ]
  edge [
    source 26
    target 81
    key 0
    action "child3"
  ]
  edge [
    source 27
    target 8
    key 0
    action "parent"
  ]
  edge [
    source 27
    target 82
    key 0
    action "child1"
  ]
  edge [
    source 27
    target 83
    key 0
    action "child2"
  ]
  edge [
    source 27
    target 84
    key 0
    action "child3"
  ]
  edge [
    source 28
    target 9
    key 0
    action "parent"
  ]
  edge [
    source 28
    target 85
    key 0
    action "child1"
  ]
  edge [
    source 28
    target 86
    key 0
    action "child2"
  ]
  edge [
    source 28
    target 87
    key 0
    action "child3"
  ]
  edge [
    source 29
    target 9
    key 0
    action "parent"
  ]
  edge [
    source 29
    target 88
    key 0
    action "child1"
  ]
  edge [
    source 29
    target 89
    key 0
    action "child2"
  ]
  edge [
    source 29
    target 90
    key 0
    action "child3"
  ]
  edge [
    source 30
    target 9
    key 0
    action "parent"
  ]
  edge [
    source 30
    target 91
    key 0
    action "child1"
  ]
  edge [
    source 30
    target 92
    key 0
    action "child2"
  ]
  edge [
    source 30
    target 93
    key 0
    action "child3"
  ]
  edge [
    source 31
    target 10
    key 0
    action "parent"
  ]
  edge [
    source 31
    target 94
    key 0
    action "child1"
  ]
  edge [
    source 31
    target 95
    key 0
    action "child2"
  ]
  edge [
    source 31
    target 96
    key 0
    action "child3"
  ]
  edge [
    source 32
    target 10
    key 0
    action "parent"
  ]
  edge [
    source 32
    target 97
    key 0
    action "child1"
  ]
  edge [
    source 32
    target 98
    key 0
    action "child2"
  ]
  edge [
    source 32
    target 99
    key 0
    action "child3"
  ]
  edge [
    source 33
    target 10
    key 0
    action "parent"
  ]
  edge [
    source 33
    target 100
    key 0
    action "child1"
  ]
  edge [
    source 33
    target 101
    key 0
    action "child2"
  ]
  edge [
    source 33
    target 102
    key 0
    action "child3"
  ]
  edge [
    source 34
    target 11
    key 0
    action "parent"
  ]
  edge [
    source 34
    target 103
    key 0
    action "child1"
  ]
  edge [
    source 34
    target 104
    key 0
    action "child2"
  ]
  edge [
    source 34
    target 105
    key 0
    action "child3"
  ]
  edge [
    source 35
    target 11
    key 0
    action "parent"
  ]
  edge [
    source 35
    target 106
    key 0
    action "child1"
  ]
  edge [
    source 35
    target 107
    key 0
    action "child2"
  ]
  edge [
    source 35
    target 108
    key 0
    action "child3"
  ]
  edge [
    source 36
    target 11
    key 0
    action "parent"
  ]
  edge [
    source 36
    target 109
    key 0
    action "child1"
  ]
  edge [
    source 36
    target 110
    key 0
    action "child2"
  ]
  edge [
    source 36
    target 111
    key 0
    action "child3"
  ]
  edge [
    source 37
    target 12
    key 0
    action "parent"
  ]
  edge [
    source 37
    target 112
    key 0
    action "child1"
  ]
  edge [
    source 37
    target 113
    key 0
    action "child2"
  ]
  edge [
    source 37
    target 114
    key 0
    action "child3"
  ]
  edge [
    source 38
    target 12
    key 0
    action "parent"
  ]
  edge [
    source 38
    target 115
    key 0
    action "child1"
  ]
  edge [
    source 38
    target 116
    key 0
    action "child2"
  ]
  edge [
    source 38
    target 117
    key 0
    action "child3"
  ]
  edge [
    source 39
    target 12
    key 0
    action "parent"
  ]
  edge [
    source 39
    target 118
    key 0
    action "child1"
  ]
  edge [
    source 39
    target 119
    key 0
    action "child2"
  ]
  edge [
    source 39
    target 120
    key 0
    action "child3"
  ]
  edge [
    source 40
    target 13
    key 0
    action "parent"
  ]
  edge [
    source 41
    target 13
    key 0
    action "parent"
  ]
  edge [
    source 42
    target 13
    key 0
    action "parent"
  ]
  edge [
    source 43
    target 14
    key 0
    action "parent"
  ]
  edge [
    source 44
    target 14
    key 0
    action "parent"
  ]
  edge [
    source 45
    target 14
    key 0
    action "parent"
  ]
  edge [
    source 46
    target 15
    key 0
    action "parent"
  ]
  edge [
    source 47
    target 15
    key 0
    action "parent"
  ]
  edge [
    source 48
    target 15
    key 0
    action "parent"
  ]
  edge [
    source 49
    target 16
    key 0
    action "parent"
  ]
  edge [
    source 50
    target 16
    key 0
    action "parent"
  ]
  edge [
    source 51
    target 16
    key 0
    action "parent"
  ]
  edge [
    source 52
    target 17
    key 0
    action "parent"
  ]
  edge [
    source 53
    target 17
    key 0
    action "parent"
  ]
  edge [
    source 54
    target 17
    key 0
    action "parent"
  ]
  edge [
    source 55
    target 18
    key 0
    action "parent"
  ]
  edge [
    source 56
    target 18
    key 0
    action "parent"
  ]
  edge [
    source 57
    target 18
    key 0
    action "parent"
  ]
  edge [
    source 58
    target 19
    key 0
    action "parent"
  ]
  edge [
    source 59
    target 19
    key 0
    action "parent"
  ]
  edge [
    source 60
    target 19
    key 0
    action "parent"
  ]
  edge [
    source 61
    target 20
    key 0
    action "parent"
  ]
  edge [
    source 62
    target 20
    key 0
    action "parent"
  ]
  edge [
    source 63
    target 20
    key 0
    action "parent"
  ]
  edge [
    source 64
    target 21
    key 0
    action "parent"
  ]
  edge [
    source 65
    target 21
    key 0
    action "parent"
  ]
  edge [
    source 66
    target 21
    key 0
    action "parent"
  ]
  edge [
    source 67
    target 22
    key 0
    action "parent"
  ]
  edge [
    source 68
    target 22
    key 0
    action "parent"
  ]
  edge [
    source 69
    target 22
    key 0
    action "parent"
  ]
  edge [
    source 70
    target 23
    key 0
    action "parent"
  ]
  edge [
    source 71
    target 23
    key 0
    action "parent"
  ]
  edge [
    source 72
    target 23
    key 0
    action "parent"
  ]
  edge [
    source 73
    target 24
    key 0
    action "parent"
  ]
  edge [
    source 74
    target 24
    key 0
    action "parent"
  ]
  edge [
    source 75
    target 24
    key 0
    action "parent"
  ]
  edge [
    source 76
    target 25
    key 0
    action "parent"
  ]
  edge [
    source 77
    target 25
    key 0
    action "parent"
  ]
  edge [
    source 78
    target 25
    key 0
    action "parent"
  ]
  edge [
    source 79
    target 26
    key 0
    action "parent"
  ]
  edge [
    source 80
    target 26
    key 0
    action "parent"
  ]
  edge [
    source 81
    target 26
    key 0
    action "parent"
  ]
  edge [
    source 82
    target 27
    key 0
    action "parent"
  ]
  edge [
    source 83
    target 27
    key 0
    action "parent"
  ]
  edge [
    source 84
    target 27
    key 0
    action "parent"
  ]
  edge [
    source 85
    target 28
    key 0
    action "parent"
  ]
  edge [
    source 86
    target 28
    key 0
    action "parent"
  ]
  edge [
    source 87
    target 28
    key 0
    action "parent"
  ]
  edge [
    source 88
    target 29
    key 0
    action "parent"
  ]
  edge [
    source 89
    target 29
    key 0
    action "parent"
  ]
  edge [
    source 90
    target 29
    key 0
    action "parent"
  ]
  edge [
    source 91
    target 30
    key 0
    action "parent"
  ]
  edge [
    source 92
    target 30
    key 0
    action "parent"
  ]
  edge [
    source 93
    target 30
    key 0
    action "parent"
  ]
  edge [
    source 94
    target 31
    key 0
    action "parent"
  ]
  edge [
    source 95
    target 31
    key 0
    action "parent"
  ]
  edge [
    source 96
    target 31
    key 0
    action "parent"
  ]
  edge [
    source 97
    target 32
    key 0
    action "parent"
  ]
  edge [
    source 98
    target 32
    key 0
    action "parent"
  ]
  edge [
    source 99
    target 32
    key 0
    action "parent"
  ]
  edge [
    source 100
    target 33
    key 0
    action "parent"
  ]
  edge [
    source 101
    target 33
    key 0
    action "parent"
  ]
  edge [
    source 102
    target 33
    key 0
    action "parent"
  ]
  edge [
    source 103
    target 34
    key 0
    action "parent"
  ]
  edge [
    source 104
    target 34
    key 0
    action "parent"
  ]
  edge [
    source 105
    target 34
    key 0
    action "parent"
  ]
  edge [
    source 106
    target 35
    key 0
    action "parent"
  ]
  edge [
    source 107
    target 35
    key 0
    action "parent"
  ]
  edge [
    source 108
    target 35
    key 0
    action "parent"
  ]
  edge [
    source 109
    target 36
    key 0
    action "parent"
  ]
  edge [
    source 110
    target 36
    key 0
    action "parent"
  ]
  edge [
    source 111
    target 36
    key 0
    action "parent"
  ]
  edge [
    source 112
    target 37
    key 0
    action "parent"
  ]
  edge [
    source 113
    target 37
    key 0
    action "parent"
  ]
  edge [
    source 114
    target 37
    key 0
    action "parent"
  ]
  edge [
    source 115
    target 38
    key 0
    action "parent"
  ]
  edge [
    source 116
    target 38
    key 0
    action "parent"
  ]
  edge [
    source 117
    target 38
    key 0
    action "parent"
  ]
  edge [
    source 118
    target 39
    key 0
    action "parent"
  ]
  edge [
    source 119
    target 39
    key 0
    action "parent"
  ]
  edge [
    source 120
    target 39
    key 0
    action "parent"
  ]
]
