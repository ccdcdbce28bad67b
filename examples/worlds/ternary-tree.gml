graph [
  directed 1
  multigraph 1
  name "ternary tree 3"
  periodic 0
  actions "[&#34;parent&#34;, &#34;child1&#34;, &#34;child2&#34;, &#34;child3&#34;]"
  inverse_actions "{&#34;child1&#34;: &#34;parent&#34;, &#34;child2&#34;: &#34;parent&#34;, &#34;child3&#34;: &#34;parent&#34;}"
  node [
    id 0
    label "0"
    x 13.5
    y -0.0
  ]
  node [
    id 1
    label "1"
    x 4.5
    y -1.0
  ]
  node [
    id 2
    label "2"
    x 13.5
    y -1.0
  ]
  node [
    id 3
    label "3"
    x 22.5
    y -1.0
  ]
  node [
    id 4
    label "4"
    x 1.5
    y -2.0
  ]
  node [
    id 5
    label "5"
    x 4.5
    y -2.0
  ]
  node [
    id 6
    label "6"
    x 7.5
    y -2.0
  ]
  node [
    id 7
    label "7"
    x 10.5
    y -2.0
  ]
  node [
    id 8
    label "8"
    x 13.5
    y -2.0
  ]
  node [
    id 9
    label "9"
    x 16.5
    y -2.0
  ]
  node [
    id 10
    label "10"
    x 19.5
    y -2.0
  ]
  node [
    id 11
    label "11"
    x 22.5
    y -2.0
  ]
  node [
    id 12
    label "12"
    x 25.5
    y -2.0
  ]
  node [
    id 13
    label "13"
    x 0.5
    y -3.0
  ]
  node [
    id 14
    label "14"
    x 1.5
    y -3.0
  ]
  node [
    id 15
    label "15"
    x 2.5
    y -3.0
  ]
  node [
    id 16
    label "16"
    x 3.5
    y -3.0
  ]
  node [
    id 17
    label "17"
    x 4.5
    y -3.0
  ]
  node [
    id 18
    label "18"
    x 5.5
    y -3.0
  ]
  node [
    id 19
    label "19"
    x 6.5
    y -3.0
  ]
  node [
    id 20
    label "20"
    x 7.5
    y -3.0
  ]
  node [
    id 21
    label "21"
    x 8.5
    y -3.0
  ]
  node [
    id 22
    label "22"
    x 9.5
    y -3.0
  ]
  node [
    id 23
    label "23"
    x 10.5
    y -3.0
  ]
  node [
    id 24
    label "24"
    x 11.5
    y -3.0
  ]
  node [
    id 25
    label "25"
    x 12.5
    y -3.0
  ]
  node [
    id 26
    label "26"
    x 13.5
    y -3.0
  ]
  node [
    id 27
    label "27"
    x 14.5
    y -3.0
  ]
  node [
    id 28
    label "28"
    x 15.5
    y -3.0
  ]
  node [
    id 29
    label "29"
    x 16.5
    y -3.0
  ]
  node [
    id 30
    label "30"
    x 17.5
    y -3.0
  ]
  node [
    id 31
    label "31"
    x 18.5
    y -3.0
  ]
  node [
    id 32
    label "32"
    x 19.5
    y -3.0
  ]
  node [
    id 33
    label "33"
    x 20.5
    y -3.0
  ]
  node [
    id 34
    label "34"
    x 21.5
    y -3.0
  ]
  node [
    id 35
    label "35"
    x 22.5
    y -3.0
  ]
  node [
    id 36
    label "36"
    x 23.5
    y -3.0
  ]
  node [
    id 37
    label "37"
    x 24.5
    y -3.0
  ]
  node [
    id 38
    label "38"
    x 25.5
    y -3.0
  ]
  node [
    id 39
    label "39"
    x 26.5
    y -3.0
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
    source 14
    target 4
    key 0
    action "parent"
  ]
  edge [
    source 15
    target 4
    key 0
    action "parent"
  ]
  edge [
    source 16
    target 5
    key 0
    action "parent"
  ]
  edge [
    source 17
    target 5
    key 0
    action "parent"
  ]
  edge [
    source 18
    target 5
    key 0
    action "parent"
  ]
  edge [
    source 19
    target 6
    key 0
    action "parent"
  ]
  edge [
    source 20
    target 6
    key 0
    action "parent"
  ]
  edge [
    source 21
    target 6
    key 0
    action "parent"
  ]
  edge [
    source 22
    target 7
    key 0
    action "parent"
  ]
  edge [
    source 23
    target 7
    key 0
    action "parent"
  ]
  edge [
    source 24
    target 7
    key 0
    action "parent"
  ]
  edge [
    source 25
    target 8
    key 0
    action "parent"
  ]
  edge [
    source 26
    target 8
    key 0
    action "parent"
  ]
  edge [
    source 27
    target 8
    key 0
    action "parent"
  ]
  edge [
    source 28
    target 9
    key 0
    action "parent"
  ]
  edge [
    source 29
    target 9
    key 0
    action "parent"
  ]
  edge [
    source 30
    target 9
    key 0
    action "parent"
  ]
  edge [
    source 31
    target 10
    key 0
    action "parent"
  ]
  edge [
    source 32
    target 10
    key 0
    action "parent"
  ]
  edge [
    source 33
    target 10
    key 0
    action "parent"
  ]
  edge [
    source 34
    target 11
    key 0
    action "parent"
  ]
  edge [
    source 35
    target 11
    key 0
    action "parent"
  ]
  edge [
    source 36
    target 11
    key 0
    action "parent"
  ]
  edge [
    source 37
    target 12
    key 0
    action "parent"
  ]
  edge [
    source 38
    target 12
    key 0
    action "parent"
  ]
  edge [
    source 39
    target 12
    key 0
    action "parent"
  ]
]
